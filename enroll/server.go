package enroll

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/failrate"
)

// Store is the inventory as the API server uses it; certstore.Store
// implements it.
type Store interface {
	ca.Recorder
	InsertAuthorized(ctx context.Context, rec certstore.Record, auth certstore.Authorization) error
	LookupToken(ctx context.Context, id string) (certstore.Token, error)
	Get(ctx context.Context, issuerKeyID, serial string) (certstore.Record, error)
	List(ctx context.Context, f certstore.Filter, fn func(certstore.Record) error) error
}

// ServerConfig configures the API server.
type ServerConfig struct {
	Authority *ca.Authority // issues every certificate, recording into its own store
	Store     Store
	Metrics   *Metrics // nil: none, and /metrics answers 404
	Logger    *slog.Logger
	// Names are the DNS names and IP addresses of the API server's own TLS
	// certificate (at least one).
	Names []string
	// ServerCertValidity is the lifetime of that certificate; it is renewed
	// at two thirds of it. 0 = 7 days.
	ServerCertValidity time.Duration
	// Validity of certificates issued through the API; 0 = the profile's default.
	Validity  time.Duration
	RateLimit RateLimit
	Now       func() time.Time
	// Superseded, if set, is called after a renewal has revoked the
	// previous certificate as superseded (in the same transaction as the
	// new one's record), and when a retried renewal is answered again, so
	// that the caller republishes the CRL that must now list it. It runs on
	// the request's goroutine before the answer is written, so it must
	// return well within the server's write timeout (30 s).
	Superseded func()
}

// maxBody bounds request bodies: a CSR is a few hundred bytes, an RSA-4096
// one under 2 KiB, and a token under 100.
const maxBody = 64 << 10

// Server is the online CA's HTTPS API. It is an http.Handler; serve it with
// the tls.Config from TLSConfig.
type Server struct {
	cfg     ServerConfig
	mux     *http.ServeMux
	limiter *failrate.Limiter
	certs   *serverCert
}

// NewServer checks cfg and builds the server. It does not issue the TLS
// certificate yet: the first handshake (or TLSConfig's caller) does.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Authority == nil || cfg.Store == nil {
		return nil, errors.New("the API server needs an authority and a store")
	}
	if len(cfg.Names) == 0 {
		return nil, errors.New("the API server needs at least one DNS name or IP address for its certificate")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), limiter: failrate.New(cfg.RateLimit.Burst, cfg.RateLimit.Every, cfg.Now)}
	s.certs = newServerCert(cfg)
	s.mux.HandleFunc("POST /v1/sign", s.sign)
	s.mux.HandleFunc("POST /v1/renew", s.renew)
	s.mux.HandleFunc("GET /v1/roots", s.roots)
	s.mux.HandleFunc("GET /health", s.health)
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// TLSConfig is the API's TLS configuration: the server certificate the CA
// issued itself (renewed on demand at two thirds of its life), and a
// requested but not required client certificate, which only /v1/renew
// uses. It is checked there, against the CA and the inventory, so a bad
// certificate gets a JSON answer rather than a TLS alert.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.certs.get,
		ClientAuth:     tls.RequestClientCert,
	}
}

// ServerCertificate returns the current TLS certificate, issuing it first
// if needed; `scca serve` calls it at start so a broken CA fails at once.
func (s *Server) ServerCertificate() (*tls.Certificate, error) { return s.certs.get(nil) }

// SignBody is the body of POST /v1/sign.
type SignBody struct {
	Token string `json:"token"`
	CSR   string `json:"csr"` // PEM
}

// RenewBody is the body of POST /v1/renew.
type RenewBody struct {
	CSR string `json:"csr"` // PEM
}

// CertResponse is the answer to a successful sign or renew.
type CertResponse struct {
	Serial      string    `json:"serial"`
	Certificate string    `json:"certificate"` // PEM, the leaf
	Chain       string    `json:"chain"`       // PEM, leaf then intermediates
	NotAfter    time.Time `json:"not_after"`
}

// RootsResponse is the answer to GET /v1/roots.
type RootsResponse struct {
	Roots         []string `json:"roots"`         // PEM
	Intermediates []string `json:"intermediates"` // PEM
}

// ErrorResponse is every error's body.
type ErrorResponse struct {
	Error string `json:"error"`
}

// errUnauthorized is the one answer to every token problem, so a caller
// learns nothing about which tokens exist or were used.
const errUnauthorized = "invalid or already used token"

func (s *Server) sign(w http.ResponseWriter, r *http.Request) {
	if s.limiter.Blocked(r.RemoteAddr) {
		s.fail(w, "sign", http.StatusTooManyRequests, "too many failed attempts; try again later")
		return
	}
	var req SignBody
	if !s.decode(w, r, "sign", &req) {
		return
	}
	id, hash, err := ParseToken(req.Token)
	if err != nil {
		s.unauthorized(w, r, err)
		return
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		s.fail(w, "sign", http.StatusBadRequest, err.Error())
		return
	}
	start := time.Now()
	tok, err := s.cfg.Store.LookupToken(r.Context(), id)
	s.observe("token_lookup", start)
	if err == nil && (subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 || tok.UsedAt != nil ||
		!s.cfg.Now().Before(tok.ExpiresAt) || tok.CN != csr.Subject.CommonName) {
		err = certstore.ErrTokenInvalid // turned away before any signing; checked again on use
	}
	if err != nil {
		s.unauthorized(w, r, err)
		return
	}
	p, err := ca.ParseProfile(tok.Type)
	if err != nil {
		s.issueFailed(w, "sign", err)
		return
	}
	dns, ips := splitSANs(tok.SANs)
	auth := certstore.Authorization{TokenID: id, TokenHash: hash}
	cert, err := s.certify(r.Context(), csr.PublicKey, auth, ca.IssueRequest{
		Profile: p, CN: csr.Subject.CommonName, DNSNames: dns, IPs: ips, Validity: s.cfg.Validity,
		Actor: "token:" + id,
	})
	if err != nil {
		if errors.Is(err, certstore.ErrTokenInvalid) {
			s.unauthorized(w, r, err)
			return
		}
		s.issueFailed(w, "sign", err)
		return
	}
	s.cfg.Metrics.countIssued("token")
	s.cfg.Logger.Info("enrolled", "cn", cert.Subject.CommonName, "serial", cert.SerialNumber.Text(16), "token_id", id)
	s.respond(w, cert)
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		s.fail(w, "renew", http.StatusUnauthorized, "a client certificate is required")
		return
	}
	prev := r.TLS.PeerCertificates[0]
	var req RenewBody
	if !s.decode(w, r, "renew", &req) {
		return
	}
	p, err := s.checkRenewable(r.Context(), prev)
	var sup *supersededError
	if errors.As(err, &sup) {
		s.replayRenewal(w, r, prev, sup, req.CSR)
		return
	}
	if err != nil {
		s.fail(w, "renew", http.StatusForbidden, err.Error())
		return
	}
	csr, err := ca.ParseCSR([]byte(req.CSR))
	if err != nil {
		s.fail(w, "renew", http.StatusBadRequest, err.Error())
		return
	}
	auth := certstore.Authorization{PreviousIssuer: hex.EncodeToString(prev.AuthorityKeyId), PreviousSerial: prev.SerialNumber.Text(16)}
	// The identity is the previous certificate's, whatever the CSR says:
	// same CN and SANs, the profile of its type.
	cert, err := s.certify(r.Context(), csr.PublicKey, auth, ca.IssueRequest{
		Profile: p, CN: prev.Subject.CommonName, DNSNames: prev.DNSNames, IPs: prev.IPAddresses,
		Validity: s.cfg.Validity, Actor: "renewal:" + auth.PreviousSerial,
	})
	if err != nil {
		if errors.Is(err, certstore.ErrNotRenewable) {
			s.fail(w, "renew", http.StatusForbidden, err.Error())
			return
		}
		s.issueFailed(w, "renew", err)
		return
	}
	s.cfg.Metrics.countIssued("renewal")
	s.cfg.Logger.Info("renewed", "cn", cert.Subject.CommonName, "serial", cert.SerialNumber.Text(16), "previous", auth.PreviousSerial)
	if s.cfg.Superseded != nil {
		s.cfg.Superseded()
	}
	s.respond(w, cert)
}

// checkRenewable checks that prev chains to this CA now, is a leaf of a
// known profile, is the very certificate the inventory holds, is active,
// and that its issuer is not revoked. It returns the profile to renew in.
func (s *Server) checkRenewable(ctx context.Context, prev *x509.Certificate) (ca.Profile, error) {
	purpose, p := x509.ExtKeyUsageClientAuth, ca.ProfileClient
	if !slices.Contains(prev.ExtKeyUsage, purpose) {
		purpose, p = x509.ExtKeyUsageServerAuth, ca.ProfileServer
	}
	a := s.cfg.Authority
	if _, err := a.Trust().VerifyLeaf(prev, purpose, "", s.cfg.Now()); err != nil {
		return "", err
	}
	start := time.Now()
	rec, err := s.cfg.Store.Get(ctx, hex.EncodeToString(prev.AuthorityKeyId), prev.SerialNumber.Text(16))
	s.observe("get", start)
	if err != nil {
		return "", errors.New("certificate is not in the inventory")
	}
	if sum := sha256.Sum256(prev.Raw); rec.Fingerprint != hex.EncodeToString(sum[:]) {
		return "", errors.New("certificate differs from the one in the inventory")
	}
	if rec.Type != p.RecordType() {
		return "", errors.New("certificate type does not match its usage")
	}
	st := rec.StatusAt(s.cfg.Now())
	if st != certstore.StatusActive && !isSuperseded(rec) {
		return "", errors.New("certificate is " + st)
	}
	if a.Intermediate != nil {
		in, err := s.cfg.Store.Get(ctx, hex.EncodeToString(a.Root.SubjectKeyId), a.Intermediate.SerialNumber.Text(16))
		if err == nil && in.Status == certstore.StatusRevoked {
			return "", errors.New("the issuing CA certificate is revoked")
		}
	}
	if st != certstore.StatusActive {
		return "", &supersededError{rec: rec} // perhaps a retry (replay.go)
	}
	return p, nil
}

// certify issues through the Authority with a recorder that records the
// certificate together with its authorisation.
func (s *Server) certify(ctx context.Context, pub any, auth certstore.Authorization, req ca.IssueRequest) (*x509.Certificate, error) {
	rec := authorizedRecorder{store: s.cfg.Store, auth: auth, observe: s.observe}
	return s.cfg.Authority.WithRecorder(rec).Certify(ctx, pub, req)
}

type authorizedRecorder struct {
	store   Store
	auth    certstore.Authorization
	observe func(string, time.Time)
}

// authorizedRecorder must let the Authority look its CAs up: without Get,
// Certify cannot tell that its issuing CA was revoked and would go on
// issuing under it.
var _ ca.RecordGetter = authorizedRecorder{}

// Get implements ca.RecordGetter.
func (a authorizedRecorder) Get(ctx context.Context, issuerKeyID, serial string) (certstore.Record, error) {
	return a.store.Get(ctx, issuerKeyID, serial)
}

func (a authorizedRecorder) Insert(ctx context.Context, rec certstore.Record) error {
	defer a.observe("insert", time.Now())
	return a.store.InsertAuthorized(ctx, rec, a.auth)
}

func (s *Server) roots(w http.ResponseWriter, _ *http.Request) {
	a := s.cfg.Authority
	resp := RootsResponse{Roots: []string{string(pemCert(a.Root.Raw))}, Intermediates: []string{}}
	if a.Intermediate != nil {
		resp.Intermediates = append(resp.Intermediates, string(pemCert(a.Intermediate.Raw)))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	if _, err := s.certs.get(nil); err != nil {
		s.fail(w, "health", http.StatusServiceUnavailable, "no server certificate")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) decode(w http.ResponseWriter, r *http.Request, endpoint string, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(w, endpoint, http.StatusRequestEntityTooLarge, "request body too large")
			return false
		}
		s.fail(w, endpoint, http.StatusBadRequest, "request body is not the expected JSON")
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		s.fail(w, endpoint, http.StatusBadRequest, "request body is not the expected JSON")
		return false
	}
	return true
}

// unauthorized answers every token failure alike and counts it against the
// source; the reason goes to the log only, never into the answer.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	s.limiter.Fail(r.RemoteAddr)
	s.cfg.Logger.Warn("enrollment refused", "remote", r.RemoteAddr, "reason", err.Error())
	s.fail(w, "sign", http.StatusUnauthorized, errUnauthorized)
}

func (s *Server) issueFailed(w http.ResponseWriter, endpoint string, err error) {
	if errors.Is(err, ca.ErrInvalidName) || errors.Is(err, ca.ErrBadCSR) {
		s.fail(w, endpoint, http.StatusBadRequest, err.Error())
		return
	}
	// Both answers go to a caller who proved a valid token or certificate;
	// the detail (holder serial, revocation time) stays in the log.
	if errors.Is(err, ca.ErrCARevoked) {
		s.cfg.Logger.Error("issuance refused", "endpoint", endpoint, "err", err.Error())
		s.fail(w, endpoint, http.StatusForbidden, "the issuing CA certificate is revoked")
		return
	}
	if errors.Is(err, certstore.ErrIdentityTaken) {
		s.cfg.Logger.Warn("issuance refused", "endpoint", endpoint, "err", err.Error())
		s.fail(w, endpoint, http.StatusConflict, "this client identity (or a look-alike) already has an active certificate")
		return
	}
	s.cfg.Logger.Error("issuance failed", "endpoint", endpoint, "err", err.Error())
	s.fail(w, endpoint, http.StatusInternalServerError, "internal error")
}

func (s *Server) fail(w http.ResponseWriter, endpoint string, code int, msg string) {
	s.cfg.Metrics.countError(endpoint, code)
	writeJSON(w, code, ErrorResponse{Error: msg})
}

func (s *Server) respond(w http.ResponseWriter, cert *x509.Certificate) {
	writeJSON(w, http.StatusOK, CertResponse{
		Serial: cert.SerialNumber.Text(16), Certificate: string(pemCert(cert.Raw)),
		Chain: string(s.cfg.Authority.ChainPEM(cert)), NotAfter: cert.NotAfter.UTC(),
	})
}

func (s *Server) observe(op string, start time.Time) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.observe(op, start)
	}
}

func (m *Metrics) countIssued(method string) {
	if m == nil {
		return
	}
	m.counter("scca_issuances_total", "method", method).Inc()
	if method == "renewal" {
		m.renewals.Inc()
	}
}

func (m *Metrics) countError(endpoint string, code int) {
	if m != nil {
		m.counter("scca_api_errors_total", "code", http.StatusText(code), "endpoint", endpoint).Inc()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func splitSANs(sans []string) (dns []string, ips []net.IP) {
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	return dns, ips
}

// ReloadableTLSConfig is TLSConfig for a server that may be replaced while
// running (`scca serve` rebuilds it on SIGHUP): every handshake asks
// current for the server of the moment.
func ReloadableTLSConfig(current func() *Server) *tls.Config {
	cfg := (&Server{}).TLSConfig()
	cfg.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return current().certs.get(h) }
	return cfg
}

// Root is the CA's root certificate, whose fingerprint enrolling clients pin.
func (s *Server) Root() *x509.Certificate { return s.cfg.Authority.Root }
