package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"

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
                    cached until its nextUpdate); the first is published by
                    ` + "`scca init`" + `, the next by ` + "`scca crl`" + ` and revocations
  GET /ca.pem       the CA certificates, issuer first
  GET /ca.der       the leaf issuer's certificate in DER (the AIA caIssuers URL)
  GET /root.crl     with an intermediate: the root's CRL (DER), listing revoked
                    intermediates; the intermediate's CRL distribution point
  GET /root.der     with an intermediate: the root certificate (DER), the
                    intermediate's AIA caIssuers
  GET|POST /ocsp    RFC 6960 OCSP responder answering from the inventory,
                    signed by each CA's delegated responder certificate
                    (<certs-dir>/*_ocsp.pem); tryLater when the inventory does
                    not answer within --ocsp-timeout; none for an issuing
                    CA the inventory records as revoked

By default serve holds no CA key: the responder certificates (4 days) are made
by ` + "`scca init`" + ` and renewed by ` + "`scca crl`" + ` and ` + "`scca revoke`" + ` (run ` + "`scca crl`" + ` daily
from cron); serve picks up a renewed file at once. --ca-keys intermediate lets
serve renew the intermediate's responder itself, --ca-keys all also loads the
root key.

Set --base-url (or base-url in the config file) to this server's public URL
before issuing certificates, so they carry the CRL and OCSP locations. The
server stops gracefully on SIGINT/SIGTERM and reloads its certificates on
SIGHUP.

With --api-listen it also serves the online CA's HTTPS API (docs/API.md):
POST /v1/sign (one-time token + CSR, see scca token / scca enroll),
POST /v1/renew (client certificate + CSR, see scca renew), GET /v1/roots,
GET /health and GET /metrics (Prometheus). The API issues certificates, so
with it serve loads the issuing CA key whatever --ca-keys says. Its TLS
certificate is issued by this CA and renewed automatically; the root
fingerprint clients pin is printed at start.`,
		Example: `  scca serve --listen 127.0.0.1:8080
  scca serve --listen 127.0.0.1:8080 --api-listen 127.0.0.1:8443
  openssl ocsp -issuer certs/root_ca.pem -cert certs/client123_cert.pem -url http://127.0.0.1:8080/ocsp -CAfile certs/root_ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.serveAll(cmd.Context(), func(ctx context.Context, st *certstore.Store, logger *slog.Logger) (http.Handler, error) {
				cas, responders, err := e.ocspSources(ctx, st, e.v.GetString("ca-keys"), logger)
				if err != nil {
					return nil, err
				}
				for i := range responders {
					responders[i].Store, responders[i].Logger = st, logger
					responders[i].LookupTimeout = e.v.GetDuration("ocsp-timeout")
				}
				if responders, err = e.dropRevokedIssuer(ctx, st, cas, responders, logger); err != nil {
					return nil, err
				}
				var ocspHandler http.Handler
				if len(responders) > 0 {
					if ocspHandler, err = revocation.NewOCSPResponder(responders[0], responders[1:]...); err != nil {
						return nil, err
					}
				}
				var chain bytes.Buffer
				chain.Write(pemCert(cas.Issuer().Raw))
				if cas.Intermediate != nil {
					chain.Write(pemCert(cas.Root.Raw))
				}
				cfg := revocation.ServerConfig{
					CACertPEM: chain.Bytes(), CACertDER: cas.Issuer().Raw,
					CRLPath: filepath.Join(e.certsDir(), ca.CRLDERFile), OCSP: ocspHandler, Logger: logger,
				}
				if cas.Intermediate != nil {
					cfg.RootCRLPath, cfg.RootCertDER = filepath.Join(e.certsDir(), ca.RootCRLDERFile), cas.Root.Raw
				}
				return revocation.NewHTTPHandler(cfg), nil
			})
		},
	}
	addAPIFlags(cmd)
	cmd.Flags().String("listen", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().String("ca-keys", caKeysNone, "CA keys to hold, to renew their OCSP responder certificates in process: none (responder keys only; `scca crl` renews), intermediate, or all (also the root key)")
	cmd.Flags().Duration("ocsp-timeout", revocation.DefaultOCSPLookupTimeout, "answer OCSP tryLater when the inventory has not answered within this time")
	_ = cmd.RegisterFlagCompletionFunc("ca-keys", fixedCompletion(caKeysNone, caKeysIntermediate, caKeysAll))
	return cmd
}

// dropRevokedIssuer removes the leaf issuer's OCSP responder when the
// inventory records that CA as revoked: a revoked CA answers nothing more
// (requests about its certificates get "unauthorized"), and the root's CRL
// at /root.crl lists it. Checked when serve starts.
func (e *env) dropRevokedIssuer(ctx context.Context, st ca.RecordGetter, cas *ca.Certificates, responders []revocation.ResponderConfig, logger *slog.Logger) ([]revocation.ResponderConfig, error) {
	err := ca.CheckCAsNotRevoked(ctx, st, cas.All()...)
	if !errors.Is(err, ca.ErrCARevoked) {
		return responders, err
	}
	logger.Error("not answering OCSP for a revoked CA", "err", err)
	e.statusf("Warning: %v; OCSP for its certificates is refused, /root.crl lists it\n", err)
	return slices.DeleteFunc(responders, func(r revocation.ResponderConfig) bool { return r.Issuer.Equal(cas.Issuer()) }), nil
}
