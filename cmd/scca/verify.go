package main

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
)

func newVerifyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify CERT",
		Short: "Check a certificate: chain, validity, purpose and revocation",
		Long: `Verify a certificate file against the CA in --certs-dir: it must chain to the
CA at the current time, be a leaf (not a CA), carry the EKU for its purpose,
and be good per the revocation source, and so must every CA certificate of
its chain below the root (a revoked intermediate refuses its leaves). By
default the inventory is the revocation source (serial known, same
fingerprint, not revoked, not expired); --crl FILE|URL or --ocsp URL use a
CRL or an OCSP responder instead. With an intermediate, --crl is the leaf
issuer's CRL and the intermediate is checked against the root's CRL:
--root-crl, else <certs-dir>/root_crl.pem, else the intermediate's CRL
distribution point.

Exits 0 when the certificate is good, 1 with the reason when it is not.`,
		Example: `  scca verify certs/client123_cert.pem
  scca verify --purpose server --name chat.example.com certs/chat.example.com_cert.pem
  scca verify --crl certs/crl.pem certs/client123_cert.pem
  scca verify --ocsp http://127.0.0.1:8080/ocsp certs/client123_cert.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cert, err := readCertFile(args[0])
			if err != nil {
				return err
			}
			purpose, err := verifyPurpose(e.v.GetString("purpose"), cert)
			if err != nil {
				return err
			}
			cas, err := ca.LoadCertificates(e.certsDir())
			if err != nil {
				return err
			}
			chain, err := cas.Trust().VerifyLeaf(cert, purpose, e.v.GetString("name"), time.Now())
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			checker, source, closeFn, err := e.revocationChecker(cmd, cas)
			if err != nil {
				return err
			}
			defer closeFn()
			if err := checker.CheckChain(cmd.Context(), chain); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			e.printf("%s: OK\n  subject:    %s\n  serial:     %s\n  purpose:    %s\n  chain:      %s\n  revocation: good per %s\n",
				args[0], cert.Subject.CommonName, certSerial(cert), extKeyUsageNames([]x509.ExtKeyUsage{purpose})[0],
				chainNames(chain), source)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("purpose", "auto", "server, client or auto (from the certificate's EKU)")
	f.String("name", "", "also require the certificate to be valid for this DNS name or IP")
	f.String("crl", "", "check revocation against this CRL (file or http URL) instead of the inventory")
	f.String("ocsp", "", "check revocation with this OCSP responder URL instead of the inventory")
	f.String("root-crl", "", "with --crl and an intermediate: the root's CRL (file or URL) the intermediate is checked against")
	cmd.MarkFlagsMutuallyExclusive("crl", "ocsp")
	return cmd
}

func verifyPurpose(p string, c *x509.Certificate) (x509.ExtKeyUsage, error) {
	switch p {
	case "server":
		return x509.ExtKeyUsageServerAuth, nil
	case "client":
		return x509.ExtKeyUsageClientAuth, nil
	case "auto":
		if slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
			return x509.ExtKeyUsageServerAuth, nil
		}
		return x509.ExtKeyUsageClientAuth, nil
	}
	return 0, fmt.Errorf("unknown --purpose %q: use server, client or auto", p)
}

func chainNames(chain []*x509.Certificate) string {
	s := ""
	for i, c := range chain {
		if i > 0 {
			s += " <- "
		}
		s += c.Subject.CommonName
	}
	return s
}
