package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/revocation"
)

func newServeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the CRL, the CA certificate and an OCSP responder over HTTP",
		Long: `Run the HTTP server relying parties use:

  GET /crl          the leaf issuer's current CRL (DER, application/pkix-crl,
                    cached until its nextUpdate); publish it with ` + "`scca crl`" + `
  GET /ca.pem       the CA certificates, issuer first
  GET|POST /ocsp    RFC 6960 OCSP responder answering from the inventory

Set --base-url (or base-url in the config file) to this server's public URL
before issuing certificates, so they carry the CRL and OCSP locations. The
server stops gracefully on SIGINT/SIGTERM.`,
		Example: `  scca serve --listen 127.0.0.1:8080
  openssl ocsp -issuer certs/root_ca.pem -cert certs/client123_cert.pem -url http://127.0.0.1:8080/ocsp -CAfile certs/root_ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, a, err := e.openCA(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			logger := slog.New(slog.NewTextHandler(e.stderr, nil))
			responders := []revocation.ResponderConfig{{Issuer: a.Issuer(), Signer: a.Signer(), Store: st, Logger: logger}}
			if a.Intermediate != nil {
				if rootKey, err := ca.LoadRootSigner(e.certsDir(), e.passphrase); err == nil {
					responders = append(responders, revocation.ResponderConfig{Issuer: a.Root, Signer: rootKey, Store: st, Logger: logger})
				} else if !errors.Is(err, ca.ErrNoCA) {
					return err
				}
			}
			ocspHandler, err := revocation.NewOCSPResponder(responders[0], responders[1:]...)
			if err != nil {
				return err
			}
			var chain bytes.Buffer
			for _, c := range a.Chain() {
				chain.Write(pemCert(c.Raw))
			}
			h := revocation.NewHTTPHandler(revocation.ServerConfig{
				CACertPEM: chain.Bytes(), CRLPath: filepath.Join(e.certsDir(), "crl.der"), OCSP: ocspHandler, Logger: logger,
			})
			ln, err := net.Listen("tcp", e.v.GetString("listen"))
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			e.printf("Serving /crl, /ca.pem and /ocsp on http://%s\n", ln.Addr())
			return revocation.Serve(cmd.Context(), ln, h)
		},
	}
	cmd.Flags().String("listen", "127.0.0.1:8080", "address to listen on")
	return cmd
}
