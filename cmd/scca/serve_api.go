package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/enroll"
	"github.com/securechat/scca/revocation"
)

// plainBuilder builds the plain-HTTP handler (CRL, CA certificates, OCSP).
type plainBuilder func(ctx context.Context, st *certstore.Store, logger *slog.Logger) (http.Handler, error)

// servedHandlers are what one (re)load of the CA serves.
type servedHandlers struct {
	plain http.Handler
	api   *enroll.Server // nil without --api-listen
}

func addAPIFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("api-listen", "", "also serve the enrollment API over HTTPS on this address (e.g. 127.0.0.1:8443)")
	f.StringSlice("api-name", nil, "DNS name or IP address for the API's TLS certificate (default: the --api-listen host, or this host's name, and localhost)")
	f.String("api-validity", "", "validity of certificates issued through the API (default: the profile's)")
}

// serveAll runs `scca serve`: the plain HTTP server on --listen and, with
// --api-listen, the HTTPS API, until ctx ends. SIGHUP reloads the CA
// certificates and key from the certs dir (and issues the API a fresh TLS
// certificate) without dropping the listeners; a failed reload keeps the
// old configuration.
func (e *env) serveAll(ctx context.Context, build plainBuilder) error {
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	metrics, err := enroll.NewMetrics(ctx, st)
	if err != nil {
		return err
	}
	apiAddr := e.v.GetString("api-listen")
	validity, err := parseValidity(e.v.GetString("api-validity"))
	if err != nil {
		return err
	}
	load := func() (*servedHandlers, error) {
		h, err := build(ctx, st, logger)
		if err != nil {
			return nil, err
		}
		out := &servedHandlers{plain: metrics.CountRevocationRequests(h)}
		if apiAddr == "" {
			return out, nil
		}
		a, err := e.loadCA(st)
		if err != nil {
			return nil, err
		}
		crls, err := e.newCRLRepublisher(ctx, st, a, logger)
		if err != nil {
			return nil, err
		}
		out.api, err = enroll.NewServer(enroll.ServerConfig{
			Authority: a, Store: st, Metrics: metrics, Logger: logger, Names: apiNames(apiAddr, e.v.GetStringSlice("api-name")),
			Validity: validity, Superseded: crls.republish,
		})
		if err != nil {
			return nil, err
		}
		if _, err := out.api.ServerCertificate(); err != nil {
			return nil, err
		}
		return out, nil
	}
	first, err := load()
	if err != nil {
		return err
	}
	var cur atomic.Pointer[servedHandlers]
	cur.Store(first)

	// SIGHUP is caught from before the listeners open, so anyone who sees
	// the port open may send it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	ln, err := net.Listen("tcp", e.v.GetString("listen"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	e.statusf("Serving /crl, /ca.pem, /ca.der and /ocsp on http://%s\n", ln.Addr())
	go func() {
		errc <- revocation.Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().plain.ServeHTTP(w, r) }))
	}()
	servers := 1
	if apiAddr != "" {
		apiLn, err := net.Listen("tcp", apiAddr)
		if err != nil {
			cancel()
			<-errc
			return fmt.Errorf("listen: %w", err)
		}
		tlsLn := tls.NewListener(apiLn, enroll.ReloadableTLSConfig(func() *enroll.Server { return cur.Load().api }))
		e.statusf("Serving the enrollment API on https://%s (root fingerprint %s)\n", apiLn.Addr(), enroll.Fingerprint(first.api.Root()))
		servers++
		go func() {
			errc <- revocation.Serve(ctx, tlsLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().api.ServeHTTP(w, r) }))
		}()
	}
	var firstErr error
	for servers > 0 {
		select {
		case <-hup:
			next, err := load()
			if err != nil {
				logger.Error("reload failed; keeping the current certificates", "err", err.Error())
				continue
			}
			cur.Store(next)
			logger.Info("reloaded certificates")
		case err := <-errc:
			servers--
			if err != nil && firstErr == nil {
				firstErr = err
			}
			cancel()
		}
	}
	return firstErr
}

// apiNames are the names in the API's TLS certificate: the ones given, or
// the listen host (this host's name when it listens on every address),
// plus localhost.
func apiNames(addr string, given []string) []string {
	if len(given) > 0 {
		return given
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || net.ParseIP(host).IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	names := []string{}
	if host != "" && host != "localhost" {
		names = append(names, host)
	}
	return append(names, "localhost")
}
