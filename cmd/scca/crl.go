package main

import (
	"errors"
	"fmt"
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
nextUpdate (see --crl-validity); revocations publish a new CRL by themselves.
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
			for _, id := range sortedKeys(targets) {
				t := targets[id]
				info, err := revocation.PublishCRL(cmd.Context(), st, t.CRLConfig, t.PEMPath, t.DERPath)
				if err != nil {
					return err
				}
				e.printf("Published CRL #%d of %q: %d revoked, next update %s\n  %s\n  %s\n", info.Number,
					t.Issuer.Subject.CommonName, info.Entries, info.NextUpdate.UTC().Format(time.RFC3339), t.PEMPath, t.DERPath)
			}
			return e.renewResponders(cmd.Context(), a, targets)
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Check the published CRLs; non-zero exit when stale or close to nextUpdate",
		Long: `Verify each published CRL's signature and report its number, entries and
nextUpdate. Exits 1 when a CRL is missing, invalid or past its nextUpdate
(relying parties then refuse every certificate), and 2 when its nextUpdate is
within --warn, so monitoring can page before the outage.`,
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
			return e.crlStatus(cas, warn, time.Now())
		},
	}
	status.Flags().String("warn", "24h", "warn (exit 2) when nextUpdate is closer than this")
	cmd.AddCommand(status)
	return cmd
}

func (e *env) crlStatus(cas *ca.Certificates, warn time.Duration, now time.Time) error {
	type crlFile struct {
		path     string
		ofIssuer bool // the leaf issuer's CRL (must exist) rather than the root's own
	}
	checks := []crlFile{{"crl.pem", true}}
	if cas.Intermediate != nil {
		checks = append(checks, crlFile{"root_crl.pem", false})
	}
	worst := 0
	for _, c := range checks {
		issuer := cas.Root
		if c.ofIssuer {
			issuer = cas.Issuer()
		}
		path := filepath.Join(e.certsDir(), c.path)
		h, err := revocation.CheckCRLFile(path, issuer, now, warn)
		switch {
		case errors.Is(err, revocation.ErrStale):
			e.printf("%s: STALE — CRL #%d passed its nextUpdate %s; relying parties refuse it. Run `scca crl` now.\n",
				path, h.Number, h.NextUpdate.UTC().Format(time.RFC3339))
			worst = 1
		case err != nil:
			if c.ofIssuer {
				e.printf("%s: INVALID — %v\n", path, err)
				worst = 1
			} else {
				e.printf("%s: not checked — %v\n", path, err)
			}
		case h.ExpiresSoon:
			e.printf("%s: EXPIRING — CRL #%d, %d revoked, nextUpdate %s (in %s). Run `scca crl`.\n", path, h.Number,
				h.Entries, h.NextUpdate.UTC().Format(time.RFC3339), h.NextUpdate.Sub(now).Round(time.Minute))
			worst = max(worst, 2)
		default:
			e.printf("%s: OK — CRL #%d, %d revoked, nextUpdate %s (in %s)\n", path, h.Number, h.Entries,
				h.NextUpdate.UTC().Format(time.RFC3339), h.NextUpdate.Sub(now).Round(time.Minute))
		}
	}
	if worst != 0 {
		return &exitError{code: worst}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
