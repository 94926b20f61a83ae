package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
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
server stops gracefully on SIGINT/SIGTERM and reloads the CA certificates
and key on SIGHUP.

With --api-listen it also serves the online CA's HTTPS API (docs/API.md):
POST /v1/sign (one-time token + CSR, see scca token / scca enroll),
POST /v1/renew (client certificate + CSR, see scca renew), GET /v1/roots,
GET /health and GET /metrics (Prometheus). Its TLS certificate is issued by
this CA and renewed automatically; the root fingerprint to pin is printed.`,
		Example: `  scca serve --listen 127.0.0.1:8080
  scca serve --listen 127.0.0.1:8080 --api-listen 127.0.0.1:8443
  openssl ocsp -issuer certs/root_ca.pem -cert certs/client123_cert.pem -url http://127.0.0.1:8080/ocsp -CAfile certs/root_ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.serveAll(cmd.Context(), func(st *certstore.Store, a *ca.Authority, logger *slog.Logger) (http.Handler, error) {
				responders := []revocation.ResponderConfig{{Issuer: a.Issuer(), Signer: a.Signer(), Store: st, Logger: logger}}
				if a.Intermediate != nil {
					if rootKey, err := ca.LoadRootSigner(e.certsDir(), e.passphrase); err == nil {
						responders = append(responders, revocation.ResponderConfig{Issuer: a.Root, Signer: rootKey, Store: st, Logger: logger})
					} else if !errors.Is(err, ca.ErrNoCA) {
						return nil, err
					}
				}
				ocspHandler, err := revocation.NewOCSPResponder(responders[0], responders[1:]...)
				if err != nil {
					return nil, err
				}
				var chain bytes.Buffer
				for _, c := range a.Chain() {
					chain.Write(pemCert(c.Raw))
				}
				return revocation.NewHTTPHandler(revocation.ServerConfig{
					CACertPEM: chain.Bytes(), CRLPath: filepath.Join(e.certsDir(), "crl.der"), OCSP: ocspHandler, Logger: logger,
				}), nil
			})
		},
	}
	addAPIFlags(cmd)
	cmd.Flags().String("listen", "127.0.0.1:8080", "address to listen on")
	return cmd
}
