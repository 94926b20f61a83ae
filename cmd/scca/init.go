package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/revocation"
)

func newInitCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the root CA (and optionally an intermediate) and the inventory",
		Long: `Create a new CA in --certs-dir: root_ca.pem and root_ca_key.pem, plus
intermediate_ca.pem and intermediate_ca_key.pem with --intermediate (leaf
certificates are then issued by the intermediate, and the root key can be
moved offline). The inventory schema is created, the CA certificates are
recorded and each CA's first, empty CRL is published (crl.pem, and with
--intermediate root_crl.pem), so verify --crl works at once. What was made
is reported on stderr. An existing CA is never overwritten.`,
		Example: `  scca init
  scca init --cn "Example Root CA" --key-type ecdsa-p384 --validity 20y --intermediate
  SCCA_CA_PASSPHRASE=... scca init --encrypt-key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kt, err := ca.ParseKeyType(e.v.GetString("key-type"))
			if err != nil {
				return err
			}
			validity, err := parseValidity(e.v.GetString("validity"))
			if err != nil {
				return err
			}
			var pass []byte
			if e.v.GetBool("encrypt-key") {
				if pass, err = e.newPassphrase(); err != nil {
					return err
				}
			}
			// The audit key comes first, so that even the CA's own
			// issue entries are sealed.
			if _, err := os.Stat(filepath.Join(e.certsDir(), ca.RootCertFile)); errors.Is(err, fs.ErrNotExist) {
				if err := e.checkInventoryUnused(cmd.Context()); err != nil {
					return err
				}
				if _, err := e.ensureAuditKey(1); err != nil {
					return err
				}
			}
			st, err := e.openStoreNoCheck(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(cmd.Context()); err != nil {
				return err
			}
			a, err := ca.Init(cmd.Context(), ca.InitRequest{
				Dir: e.certsDir(), CN: e.v.GetString("cn"), KeyType: kt, Validity: validity,
				Intermediate: e.v.GetBool("intermediate"), Passphrase: pass,
				Actor: e.actor(), BaseURL: e.v.GetString("base-url"), Store: st,
			})
			if err != nil {
				return err
			}
			e.statusf("Created root CA %q (serial %s, valid until %s)\n", a.Root.Subject.CommonName,
				certSerial(a.Root), a.Root.NotAfter.UTC().Format("2006-01-02"))
			if a.Intermediate != nil {
				e.statusf("Created intermediate CA %q (serial %s); leaf certificates will be issued by it\n",
					a.Intermediate.Subject.CommonName, certSerial(a.Intermediate))
				if !a.Intermediate.NotAfter.Before(a.Root.NotAfter) {
					e.statusf("warning: the intermediate's %d days run past the root's expiry; it ends with the root on %s\n",
						int(ca.DefaultIntermediateValidity.Hours()/24), a.Root.NotAfter.UTC().Format("2006-01-02"))
				}
			}
			e.statusf("CA files are in %s; inventory: %s\n", e.certsDir(), st.Location().Redacted)
			return e.firstCRLs(cmd.Context(), st, a, pass)
		},
	}
	f := cmd.Flags()
	f.String("cn", "SecureChat Root CA", "common name of the root CA")
	f.String("key-type", "ecdsa-p256", "key type: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096")
	f.String("validity", "", "root validity, e.g. 20y or 7300d; a year is 365 days (default 3653d, ten years with leap days; intermediate 1827d)")
	f.Bool("intermediate", false, "also create an intermediate CA that issues the leaf certificates")
	f.Bool("encrypt-key", false, "encrypt the CA key(s) with a passphrase (SCCA_CA_PASSPHRASE or prompt)")
	_ = cmd.RegisterFlagCompletionFunc("key-type", completeKeyTypes)
	return cmd
}

func completeKeyTypes(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"}, cobra.ShellCompDirectiveNoFileComp
}

// firstCRLs publishes each new CA's first, empty CRL, so that
// `scca verify --crl` and relying parties have one from the start.
func (e *env) firstCRLs(ctx context.Context, st revocation.CRLStore, a *ca.Authority, pass []byte) error {
	targets, err := e.crlTargetsWith(a, func() ([]byte, error) { return pass, nil })
	if err == nil {
		err = e.publishCRLs(ctx, st, targets)
	}
	if err != nil {
		return fmt.Errorf("the CA was created but its first CRL was not published (run `scca crl` once this is fixed): %w", err)
	}
	return nil
}

// errInventoryInUse is returned by init for an inventory that already holds
// another CA's audit trail.
var errInventoryInUse = errors.New("the inventory already holds an audit trail")

// checkInventoryUnused refuses a new CA on an inventory whose audit log
// already has entries: they are sealed by the audit key in another certs
// dir, and a second key would seal the rest of one chain with a key the
// first cannot verify, so `audit --verify` would cry tampering on both
// sides. It migrates the schema first, as init does anyway.
func (e *env) checkInventoryUnused(ctx context.Context) error {
	if err := e.prepareSQLiteDir(); err != nil {
		return err
	}
	st, err := certstore.Open(ctx, e.dbURL(), certstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	head, err := st.AuditHead(ctx)
	if err != nil {
		return err
	}
	if head > 0 {
		return fmt.Errorf("%w of %d entries (%s): it belongs to the CA whose certs dir has its audit key", errInventoryInUse, head, st.Location().Redacted)
	}
	return nil
}
