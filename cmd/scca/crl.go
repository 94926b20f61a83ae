package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/revocation"
)

func newCRLCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "Publish fresh CRLs for every issuing CA",
		Long: `Generate and atomically publish a complete CRL for each issuing CA whose key is
at hand: <certs-dir>/crl.pem and crl.der for the issuer of leaf certificates,
and with an intermediate also root_crl.pem/root_crl.der (signed by the root).
Each CRL gets a new, ever-growing CRL number. Run it from cron well before
nextUpdate (see --crl-validity); init publishes the first CRL and revocations
a new one by themselves.
It also renews the delegated OCSP responder certificate of each CA whose key
is at hand once less than half of its 4-day life is left, so a daily
` + "`scca crl`" + ` keeps ` + "`scca serve`" + ` signing without any CA key.`,
		Example: `  scca crl
  scca crl --crl-validity 2d
  scca crl status --warn 48h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, a, err := e.openCA(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			targets, err := e.crlTargets(a)
			if err != nil {
				return err
			}
			err = e.publishCRLs(cmd.Context(), st, targets)
			return errors.Join(err, e.renewResponders(cmd.Context(), a, targets))
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Check the published CRLs; non-zero exit when stale or close to nextUpdate",
		Long: `Verify each published CRL's signature and report its number, entries and
nextUpdate, compared with the inventory. Exits 1 when a CRL is missing,
invalid, foreign, past its nextUpdate (relying parties then refuse every
certificate), when crl.pem and crl.der differ, when its number is ahead of the
inventory's, or when it lacks a revocation the inventory holds; and 2 when its
nextUpdate is within --warn, so monitoring can page before the outage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warn, err := parseValidity(e.v.GetString("warn"))
			if err != nil {
				return fmt.Errorf("--warn: %w", err)
			}
			cas, err := ca.LoadCertificates(e.certsDir())
			if err != nil {
				return err
			}
			st, err := e.openStoreRO(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return e.crlStatus(cmd.Context(), st, cas, warn, time.Now())
		},
	}
	status.Flags().String("warn", "24h", "warn (exit 2) when nextUpdate is closer than this")
	cmd.AddCommand(status)
	return cmd
}

// publishCRLs publishes a fresh CRL for each target and says so on stderr.
// Every issuer is tried: a revoked intermediate gets no CRL, but the root's
// CRL that lists it must still go out.
func (e *env) publishCRLs(ctx context.Context, st revocation.CRLStore, targets map[string]revocation.CRLTarget) error {
	var errs []error
	for _, id := range sortedKeys(targets) {
		t := targets[id]
		info, err := revocation.PublishCRL(ctx, st, t.CRLConfig, t.PEMPath, t.DERPath)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.statusf("Published CRL #%d of %q: %d revoked, next update %s\n  %s\n  %s\n", info.Number,
			t.Issuer.Subject.CommonName, info.Entries, info.NextUpdate.UTC().Format(time.RFC3339), t.PEMPath, t.DERPath)
	}
	return errors.Join(errs...)
}

// crlStatus checks the leaf issuer's CRL (which must exist) and, with an
// intermediate, the root's CRL: absent when the root key is kept offline,
// but when present it must be valid like any other.
func (e *env) crlStatus(ctx context.Context, st revocation.CRLStatusStore, cas *ca.Certificates, warn time.Duration, now time.Time) error {
	type crlFile struct {
		pem, der string
		issuer   *x509.Certificate
		required bool
	}
	checks := []crlFile{{ca.CRLPEMFile, ca.CRLDERFile, cas.Issuer(), true}}
	if cas.Intermediate != nil {
		checks = append(checks, crlFile{ca.RootCRLPEMFile, ca.RootCRLDERFile, cas.Root, false})
	}
	worst := 0
	for _, c := range checks {
		path, der := filepath.Join(e.certsDir(), c.pem), filepath.Join(e.certsDir(), c.der)
		if _, err := os.Stat(path); !c.required && errors.Is(err, fs.ErrNotExist) {
			e.printf("%s: not published here (the root key is offline); check it where the root CRL is published\n", path)
			continue
		}
		p, err := revocation.CheckPublishedCRL(ctx, st, c.issuer, path, der, now, warn)
		worst = max(worst, e.printCRLStatus(path, p, err, now))
	}
	if worst != 0 {
		return &exitError{code: worst}
	}
	return nil
}

// printCRLStatus prints one CRL's line and returns its exit code.
func (e *env) printCRLStatus(path string, p revocation.PublishedCRL, err error, now time.Time) int {
	switch {
	case errors.Is(err, revocation.ErrStale):
		e.printf("%s: STALE — CRL #%d passed its nextUpdate %s; relying parties refuse it. Run `scca crl` now.\n",
			path, p.Number, p.NextUpdate.UTC().Format(time.RFC3339))
		return 1
	case errors.Is(err, revocation.ErrCRLIncomplete):
		e.printf("%s: INCOMPLETE — %v (inventory is at CRL #%d). Run `scca crl` now.\n", path, err, p.LastAllocated)
		return 1
	case errors.Is(err, revocation.ErrCRLPairMismatch):
		e.printf("%s: MISMATCH — %v. Run `scca crl` to publish both anew.\n", path, err)
		return 1
	case err != nil:
		e.printf("%s: INVALID — %v\n", path, err)
		return 1
	case p.ExpiresSoon:
		e.printf("%s: EXPIRING — CRL #%d, %d revoked, nextUpdate %s (in %s). Run `scca crl`.\n", path, p.Number,
			p.Entries, p.NextUpdate.UTC().Format(time.RFC3339), p.NextUpdate.Sub(now).Round(time.Minute))
		return 2
	}
	e.printf("%s: OK — CRL #%d (inventory at #%d), %d revoked, all listed, nextUpdate %s (in %s)\n", path, p.Number,
		p.LastAllocated, p.Entries, p.NextUpdate.UTC().Format(time.RFC3339), p.NextUpdate.Sub(now).Round(time.Minute))
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
