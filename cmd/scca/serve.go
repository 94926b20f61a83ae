package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
  GET /root.crl     with an intermediate: the root's CRL (DER), listing revoked
                    intermediates; the intermediate's CRL distribution point
  GET /root.cer     with an intermediate: the root certificate (DER), the
                    intermediate's AIA caIssuers
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
			var responders []revocation.ResponderConfig
			// A revoked issuing CA answers no OCSP (its requests get
			// "unauthorized"); the root's CRL, served below, lists it.
			if err := a.CheckNotRevoked(cmd.Context()); errors.Is(err, ca.ErrCARevoked) {
				logger.Error("not answering OCSP for the issuing CA", "err", err)
				e.printf("Warning: %v; OCSP for its certificates is refused, /root.crl lists it\n", err)
			} else if err != nil {
				return err
			} else {
				responders = append(responders, revocation.ResponderConfig{Issuer: a.Issuer(), Signer: a.Signer(), Store: st, Logger: logger})
			}
			if a.Intermediate != nil {
				if rootKey, err := ca.LoadRootSigner(e.certsDir(), e.passphrase); err == nil {
					responders = append(responders, revocation.ResponderConfig{Issuer: a.Root, Signer: rootKey, Store: st, Logger: logger})
				} else if !errors.Is(err, ca.ErrNoCA) {
					return err
				}
			}
			var ocspHandler http.Handler
			if len(responders) > 0 {
				if ocspHandler, err = revocation.NewOCSPResponder(responders[0], responders[1:]...); err != nil {
					return err
				}
			}
			var chain bytes.Buffer
			for _, c := range a.Chain() {
				chain.Write(pemCert(c.Raw))
			}
			cfg := revocation.ServerConfig{
				CACertPEM: chain.Bytes(), CRLPath: filepath.Join(e.certsDir(), ca.CRLDERFile), OCSP: ocspHandler, Logger: logger,
			}
			if a.Intermediate != nil {
				cfg.RootCRLPath, cfg.RootCertDER = filepath.Join(e.certsDir(), ca.RootCRLDERFile), a.Root.Raw
			}
			h := revocation.NewHTTPHandler(cfg)
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
