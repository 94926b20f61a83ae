package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/revocation"
)

const revokeLong = `Revoke a certificate by serial (hex, with or without colons), or every active
certificate of a common name with --cn (they are listed first; confirm, or pass
--yes in scripts). The revocation and its audit entry are recorded in one
transaction, then the issuer's CRL is republished (<certs-dir>/crl.pem and
crl.der; with an intermediate, the root's CRL is root_crl.pem/root_crl.der).

Reasons (RFC 5280): unspecified, keyCompromise, cACompromise,
affiliationChanged, superseded, cessationOfOperation, certificateHold,
privilegeWithdrawn, aACompromise. Revoking a CA certificate needs --force.`

func newRevokeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke SERIAL | --cn CN",
		Short: "Revoke certificates and republish the CRL",
		Long:  revokeLong,
		Example: `  scca revoke 5f3a09c2e1d4b7a8 --reason keyCompromise
  scca revoke --cn client123 --reason superseded --yes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cn := e.v.GetString("cn")
			if (len(args) == 1) == (cn != "") {
				return errors.New("give either a SERIAL or --cn CN")
			}
			reason, err := certstore.ParseReason(e.v.GetString("reason"))
			if err != nil {
				return err
			}
			st, err := e.openStoreOneShot(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			rv, a, err := e.revoker(st)
			if err != nil {
				return err
			}
			serials := args
			if cn != "" {
				if serials, err = e.confirmCN(cmd, st, cn); err != nil || len(serials) == 0 {
					return err
				}
			}
			for _, s := range serials {
				rec, info, err := rv.Revoke(cmd.Context(), revocation.RevokeRequest{
					Serial: s, Reason: reason, Actor: e.actor(), Force: e.v.GetBool("force"),
				})
				if err != nil && !errors.Is(err, revocation.ErrCRLNotPublished) {
					return err
				}
				e.statusf("Revoked %s (%s %q), reason %s\n", displaySerial(rec.Serial), rec.Type, rec.CN, certstore.ReasonName(reason))
				if err != nil {
					return err
				}
				e.statusf("  CRL #%d published to %s (next update %s)\n", info.Number, info.PEMPath, info.NextUpdate.UTC().Format(time.RFC3339))
			}
			e.hintRevocation()
			return e.renewResponders(cmd.Context(), a, rv.CRLs)
		},
	}
	f := cmd.Flags()
	f.String("reason", "unspecified", "RFC 5280 reason, e.g. keyCompromise, superseded")
	f.String("cn", "", "revoke every active certificate with this common name")
	f.Bool("yes", false, "with --cn: do not ask for confirmation")
	f.Bool("force", false, "allow revoking a CA certificate")
	addBrokerFlags(f)
	_ = cmd.RegisterFlagCompletionFunc("reason", fixedCompletion("unspecified", "keyCompromise", "cACompromise",
		"affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"))
	return cmd
}

// confirmCN lists the active certificates of cn and returns their serials
// once the operator agrees (or --yes was given).
func (e *env) confirmCN(cmd *cobra.Command, st *certstore.Store, cn string) ([]string, error) {
	recs, err := st.FindByCN(cmd.Context(), cn)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	// The candidates go with the prompt, on stderr, as does what was done.
	tw := tableWriter(e.stderr, e.stderr, e.tableStyleFor(e.stderr))
	var serials []string
	for _, r := range recs {
		if r.StatusAt(now) == certstore.StatusActive {
			serials = append(serials, r.Serial)
			_ = tw.write(r, now)
		}
	}
	if len(serials) == 0 {
		return nil, fmt.Errorf("no active certificate with CN %q: %w", cn, certstore.ErrNotFound)
	}
	if err := tw.close(); err != nil {
		return nil, err
	}
	if e.v.GetBool("yes") {
		return serials, nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("refusing to revoke without confirmation: pass --yes")
	}
	fmt.Fprintf(e.stderr, "Revoke these %d certificate(s)? [y/N] ", len(serials))
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		e.statusf("nothing revoked\n")
		return nil, nil
	}
	return serials, nil
}

// revoker builds a Revoker for the CA in --certs-dir with a CRL target per
// issuer whose key is at hand, and the CA it loaded.
func (e *env) revoker(st *certstore.Store) (*revocation.Revoker, *ca.Authority, error) {
	a, err := e.loadCA(st)
	if err != nil {
		return nil, nil, err
	}
	targets, err := e.crlTargets(a)
	if err != nil {
		return nil, nil, err
	}
	return &revocation.Revoker{Store: st, CRLs: targets}, a, nil
}

// crlTargets maps issuer key ids to where their CRLs are published: the leaf
// issuer's CRL is crl.pem/crl.der; with an intermediate, the root's own CRL
// (covering the intermediate) is root_crl.pem/root_crl.der, published only
// when the root key is online.
func (e *env) crlTargets(a *ca.Authority) (map[string]revocation.CRLTarget, error) {
	return e.crlTargetsWith(a, e.passphrase)
}

// crlTargetsWith is crlTargets with the root key's passphrase from pass
// (init has it already and must not ask again).
func (e *env) crlTargetsWith(a *ca.Authority, pass ca.PassphraseFunc) (map[string]revocation.CRLTarget, error) {
	dir := e.certsDir()
	leaf, validity, err := e.leafCRLTarget(a)
	if err != nil {
		return nil, err
	}
	targets := map[string]revocation.CRLTarget{a.IssuerKeyID(): leaf}
	if a.Intermediate == nil {
		return targets, nil
	}
	rootKey, err := ca.LoadRootSigner(dir, pass)
	if errors.Is(err, ca.ErrNoCA) {
		return targets, nil // root key offline: its CRL is published where the key lives
	}
	if err != nil {
		return nil, err
	}
	targets[fmt.Sprintf("%x", a.Root.SubjectKeyId)] = revocation.CRLTarget{
		CRLConfig: revocation.CRLConfig{Issuer: a.Root, Signer: rootKey, Validity: validity},
		PEMPath:   filepath.Join(dir, "root_crl.pem"), DERPath: filepath.Join(dir, "root_crl.der"),
	}
	return targets, nil
}

// leafCRLTarget is the leaf issuer's CRL (crl.pem/crl.der), signed with
// the key a holds, and the --crl-validity it uses.
func (e *env) leafCRLTarget(a *ca.Authority) (revocation.CRLTarget, time.Duration, error) {
	dir := e.certsDir()
	validity, err := parseValidity(e.v.GetString("crl-validity"))
	if err != nil {
		return revocation.CRLTarget{}, 0, fmt.Errorf("crl-validity: %w", err)
	}
	if w := ca.CRLValidityWarning(validity); w != "" {
		fmt.Fprintf(e.stderr, "warning: --crl-validity: %s\n", w)
	}
	return revocation.CRLTarget{
		CRLConfig: revocation.CRLConfig{Issuer: a.Issuer(), Signer: a.Signer(), Validity: validity},
		PEMPath:   filepath.Join(dir, "crl.pem"), DERPath: filepath.Join(dir, "crl.der"),
	}, validity, nil
}

// publishAfterReplace republishes the leaf issuer's CRL when issuing
// revoked a certificate as superseded (--replace), as revoke does after
// every revocation: relying parties that use the CRL must see it, and
// `scca crl status` would otherwise report the CRL incomplete. The
// issuance itself stands if this fails; the error says so.
func (e *env) publishAfterReplace(ctx context.Context, st revocation.CRLStore, a *ca.Authority, is *ca.Issued) error {
	if is.Replaced == nil {
		return nil
	}
	t, _, err := e.leafCRLTarget(a)
	if err == nil {
		var info revocation.CRLInfo
		if info, err = revocation.PublishCRL(ctx, st, t.CRLConfig, t.PEMPath, t.DERPath); err == nil {
			e.statusf("  CRL #%d published to %s (next update %s)\n", info.Number, info.PEMPath, info.NextUpdate.UTC().Format(time.RFC3339))
			return nil
		}
	}
	return fmt.Errorf("certificate issued and %s revoked as superseded; %w: %w", displaySerial(is.Replaced.Serial), revocation.ErrCRLNotPublished, err)
}
