package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/enroll"
	"github.com/securechat/scca/internal/atomicfile"
)

func newExportCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export --p12 --id NAME",
		Short: "Export a certificate and its key as PKCS#12 for browsers and OS key stores",
		Long: `Bundle <certs-dir>/<id>_key.pem, <id>_cert.pem and the CA certificates into a
password-protected PKCS#12 file (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC),
written atomically with mode 0600. The password comes from SCCA_P12_PASSWORD
or, on a terminal, a prompt.`,
		Example: `  SCCA_P12_PASSWORD=... scca export --p12 --id alice --out alice.p12
  openssl pkcs12 -in alice.p12 -passin env:SCCA_P12_PASSWORD -noout -info`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !e.v.GetBool("p12") {
				return errors.New("choose a format: --p12")
			}
			id := e.v.GetString("id")
			p := enroll.PathsFor(e.certsDir(), id)
			leaf, err := enroll.ReadCertificate(p.Cert)
			if err != nil {
				return err
			}
			key, err := ca.LoadKeyFile(p.Key, nil)
			if err != nil {
				return err
			}
			cas, err := ca.LoadCertificates(e.certsDir())
			if err != nil {
				return err
			}
			chain := []*x509.Certificate{cas.Root}
			if cas.Intermediate != nil {
				chain = []*x509.Certificate{cas.Intermediate, cas.Root}
			}
			password, err := e.p12Password()
			if err != nil {
				return err
			}
			der, err := ca.EncodePKCS12(key, leaf, chain, password, nil)
			if err != nil {
				return err
			}
			out := e.v.GetString("out")
			if out == "" {
				out = p.Cert[:len(p.Cert)-len("_cert.pem")] + ".p12"
			}
			if err := atomicfile.Write(out, der, 0o600); err != nil {
				return err
			}
			e.statusf("Wrote %s (certificate, key and %d CA certificate(s))\n", out, len(chain))
			return nil
		},
	}
	f := cmd.Flags()
	f.Bool("p12", false, "write PKCS#12")
	f.String("id", "", "CN whose <id>_cert.pem and <id>_key.pem to export (required)")
	f.String("out", "", "output file (default <certs-dir>/<id>.p12)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

// p12Password reads the export password, never echoing it.
func (e *env) p12Password() (string, error) {
	if p, ok := os.LookupEnv("SCCA_P12_PASSWORD"); ok {
		return p, nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no PKCS#12 password: set SCCA_P12_PASSWORD")
	}
	fmt.Fprint(e.stderr, "PKCS#12 password: ")
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(p), nil
}
