package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/securechat/scca/internal/failrate"
)

// Enrolment relay. The page cannot reach the online CA's API itself: that
// API's TLS certificate comes from the private CA, which the browser does
// not trust, and it is another origin, which the page's CSP forbids. So the
// chat server relays exactly one request, POST /v1/sign {token, csr}, to
// the CA API, whose certificate it verifies against the CA's root (not the
// system roots). The relay sees the token and the CSR, never a private key.
//
// The CA API limits failed token attempts per source address, and every
// relayed request comes from the chat server's address: to the API all
// browsers are one source. So the relay applies the same policy per
// browser address before forwarding (a browser that used up its failed
// attempts gets 429 here and never reaches the API). What remains, and is
// documented: the API's budget for the chat server's address is shared by
// all browsers, so many abusive browsers together can make the API turn
// away enrolment through the page for a while (a denial of service, not a
// way to guess tokens: a token has 256 random bits).

const (
	maxSignRequest  = 64 << 10 // a token and a P-256 CSR are well under 2 KiB
	maxSignResponse = 1 << 20  // a chain of a few certificates
	relayTimeout    = 15 * time.Second
)

// RelayOptions configures NewSignRelay.
type RelayOptions struct {
	// CAURL is the online CA's API base, https://HOST:PORT.
	CAURL string
	// Roots verify the CA API's TLS certificate (the CA's own root).
	Roots *x509.CertPool
	// Logger gets one line per relayed request (no token, no CSR).
	Logger *slog.Logger
	// FailureBurst failed attempts (the CA answered 401) per browser
	// address are relayed at once, then one per FailureEvery; zero values
	// take the CA API's defaults (10, a minute).
	FailureBurst int
	FailureEvery time.Duration
	Now          func() time.Time // nil: time.Now
}

type signRelay struct {
	target  string
	client  *http.Client
	log     *slog.Logger
	limiter *failrate.Limiter
}

// NewSignRelay returns the handler for POST /v1/sign that forwards the
// request body to CAURL/v1/sign and the CA's answer (status and JSON body)
// back.
func NewSignRelay(o RelayOptions) (http.Handler, error) {
	u, err := url.Parse(o.CAURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("CA URL %q: want https://HOST:PORT (the token must not travel in clear)", o.CAURL)
	}
	if o.Roots == nil {
		return nil, errors.New("the enrolment relay needs the CA root to verify the CA API")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: o.Roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: relayTimeout,
		Proxy:               nil, // the CA API is reached directly
	}
	return &signRelay{
		target:  strings.TrimSuffix(u.String(), "/") + "/v1/sign",
		client:  &http.Client{Transport: tr, Timeout: relayTimeout},
		log:     log,
		limiter: failrate.New(o.FailureBurst, o.FailureEvery, o.Now),
	}, nil
}

func (s *signRelay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.limiter.Blocked(r.RemoteAddr) {
		writeJSONError(w, http.StatusTooManyRequests, "too many failed attempts; try again later")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSignRequest))
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "request too large")
		return
	}
	if !json.Valid(body) {
		writeJSONError(w, http.StatusBadRequest, "request is not JSON")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), relayTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, bytes.NewReader(body))
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "cannot build the CA request")
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Warn("enrolment relay: CA unreachable", "err", err)
		writeJSONError(w, http.StatusBadGateway, "the CA cannot be reached")
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxSignResponse+1))
	if err != nil || len(answer) > maxSignResponse || !json.Valid(answer) {
		s.log.Warn("enrolment relay: bad CA answer", "status", resp.StatusCode)
		writeJSONError(w, http.StatusBadGateway, "the CA sent an unusable answer")
		return
	}
	if resp.StatusCode == http.StatusUnauthorized {
		s.limiter.Fail(r.RemoteAddr)
	}
	s.log.Info("enrolment relayed", "status", resp.StatusCode, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
