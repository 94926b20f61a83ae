package revocation

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServerConfig configures the HTTP handler that publishes revocation data.
type ServerConfig struct {
	CACertPEM []byte // served at /ca.pem
	CACertDER []byte // the leaf issuer's certificate, served at /ca.der (the AIA caIssuers URL)
	CRLPath   string // DER CRL file served at /crl, read again whenever it changes
	// RootCRLPath is the root's DER CRL (listing revoked intermediates),
	// served at /root.crl, the CRL distribution point of the intermediate;
	// "" disables it. RootCertDER is the root certificate, served at
	// /root.der, the intermediate's AIA caIssuers (RFC 5280 §4.2.2.1: DER).
	RootCRLPath string
	RootCertDER []byte
	OCSP        http.Handler // mounted at /ocsp and /ocsp/; nil disables OCSP
	Logger      *slog.Logger // nil discards
}

// NewHTTPHandler returns the handler behind `scca serve`: GET /crl, GET
// /ca.pem, GET /ca.der and the OCSP responder at /ocsp. It routes by hand rather than with
// http.ServeMux because a base64 OCSP GET request can contain "//", which
// ServeMux would "clean" and redirect.
func NewHTTPHandler(cfg ServerConfig) http.Handler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	crl := &crlFile{path: cfg.CRLPath, logger: logger}
	rootCRL := &crlFile{path: cfg.RootCRLPath, logger: logger}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case cfg.OCSP != nil && (p == "/ocsp" || strings.HasPrefix(p, "/ocsp/")):
			cfg.OCSP.ServeHTTP(w, r)
		case p == "/crl":
			if getOnly(w, r) {
				crl.serve(w, r)
			}
		case p == "/root.crl" && cfg.RootCRLPath != "":
			if getOnly(w, r) {
				rootCRL.serve(w, r)
			}
		case p == "/root.der" && cfg.RootCertDER != nil:
			if getOnly(w, r) {
				w.Header().Set("Content-Type", "application/pkix-cert")
				w.Header().Set("Cache-Control", "public, max-age=3600")
				w.Write(cfg.RootCertDER)
			}
		case p == "/ca.pem":
			if getOnly(w, r) {
				w.Header().Set("Content-Type", "application/x-pem-file")
				w.Header().Set("Cache-Control", "public, max-age=3600")
				w.Write(cfg.CACertPEM)
			}
		case p == "/ca.der" && cfg.CACertDER != nil:
			// RFC 5280 §4.2.2.1: a caIssuers HTTP URI names a single
			// DER-encoded certificate (application/pkix-cert, RFC 2585).
			if getOnly(w, r) {
				w.Header().Set("Content-Type", "application/pkix-cert")
				w.Header().Set("Cache-Control", "public, max-age=3600")
				w.Write(cfg.CACertDER)
			}
		default:
			http.NotFound(w, r)
		}
	})
}

func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return false
}

// crlFile serves the published CRL, re-reading and re-parsing it only when
// the file is another one (publishing replaces it by rename: a new inode,
// noticed even where modification times are coarse and the size is the
// same) or its size or modification time changes.
type crlFile struct {
	path   string
	logger *slog.Logger

	mu         sync.Mutex
	fi         os.FileInfo // of the file der was read from
	der        []byte
	thisUpdate time.Time
	nextUpdate time.Time
	etag       string
}

func (c *crlFile) load() ([]byte, time.Time, time.Time, string, error) {
	fi, err := os.Stat(c.path)
	if err != nil {
		return nil, time.Time{}, time.Time{}, "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.der != nil && os.SameFile(fi, c.fi) && fi.ModTime().Equal(c.fi.ModTime()) && fi.Size() == c.fi.Size() {
		return c.der, c.thisUpdate, c.nextUpdate, c.etag, nil
	}
	der, err := os.ReadFile(c.path)
	if err != nil {
		return nil, time.Time{}, time.Time{}, "", err
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, time.Time{}, time.Time{}, "", fmt.Errorf("parse %s: %w", c.path, err)
	}
	sum := sha256.Sum256(der)
	c.fi, c.der = fi, der
	c.thisUpdate, c.nextUpdate = rl.ThisUpdate, rl.NextUpdate
	c.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return c.der, c.thisUpdate, c.nextUpdate, c.etag, nil
}

func (c *crlFile) serve(w http.ResponseWriter, r *http.Request) {
	der, thisUpdate, nextUpdate, etag, err := c.load()
	if err != nil {
		c.logger.Error("serve crl", "err", err)
		http.Error(w, "CRL not available", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pkix-crl")
	h.Set("ETag", etag)
	h.Set("Last-Modified", thisUpdate.UTC().Format(http.TimeFormat))
	// Caches may keep the CRL until its nextUpdate, no longer: after that a
	// relying party would refuse it anyway.
	if maxAge := int(time.Until(nextUpdate).Seconds()); maxAge > 0 {
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge)+", must-revalidate")
		h.Set("Expires", nextUpdate.UTC().Format(http.TimeFormat))
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(der)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(der)
}

// Server timeouts: slow or idle clients must not hold connections forever.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 10 * time.Second
)

// Serve serves h on ln until ctx is cancelled, then shuts down gracefully,
// letting requests in flight finish for up to 10 seconds. It returns nil
// after a clean shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    32 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
