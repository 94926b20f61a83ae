package revocation

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/securechat/scca/inventory"
)

// MaxOCSPRequestSize is the largest OCSP request body (or decoded GET
// request) the responder reads. A single-certificate request is about 100
// bytes; 8 KiB leaves room for extensions while bounding memory per request.
const MaxOCSPRequestSize = 8 << 10

// DefaultOCSPValidity is the nextUpdate - thisUpdate of a response when
// ResponderConfig.Validity is zero.
const DefaultOCSPValidity = time.Hour

// ResponderConfig configures one issuer of an OCSP responder.
type ResponderConfig struct {
	Issuer      *x509.Certificate // the CA whose certificates are answered for
	Signer      crypto.Signer     // the key that signs responses: the CA's, or Certificate's
	Certificate *x509.Certificate // delegated responder certificate (id-kp-OCSPSigning, issued by Issuer); nil when the CA signs
	Store       RecordGetter
	Validity    time.Duration // 0 means DefaultOCSPValidity
	// CacheTTL is how long a signed response is reused for further requests
	// about the same serial (see the freshness note at NewOCSPResponder):
	// 0 means DefaultOCSPCacheTTL, negative disables reuse. It is capped at
	// a tenth of Validity.
	CacheTTL time.Duration
	Now      func() time.Time // nil means time.Now
	Logger   *slog.Logger     // store failures are logged here; nil discards
}

type ocspIssuer struct {
	cfg       ResponderConfig
	keyID     string // lower-case hex of the issuer's subject key identifier
	nameHash  map[crypto.Hash][]byte
	keyHash   map[crypto.Hash][]byte
	responder *x509.Certificate // what goes in responderID
	validity  time.Duration
	cache     *responseCache // nil when responses are not reused
}

type ocspResponder struct {
	issuers []*ocspIssuer
	logger  *slog.Logger
}

// hashes are the CertID hash algorithms the responder understands: SHA-1 is
// what most clients (openssl included) still send; SHA-256 is what
// OCSPChecker sends.
var hashes = []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512}

// NewOCSPResponder returns an RFC 6960 OCSP responder answering from the
// inventory for one or more issuers (for example an intermediate and the
// root). It serves POST with an application/ocsp-request body and GET with
// the base64 request as the last part of the path (RFC 6960 Appendix A.1),
// wherever it is mounted. Answers: good, revoked (time and reason) or
// unknown; a malformed request gets malformedRequest, a request for another
// issuer unauthorized (RFC 5019 §2.2.3), an inventory failure tryLater.
// Responses carry no nonce.
//
// Freshness: a signed response is reused for CacheTTL (default
// DefaultOCSPCacheTTL, 2 s) for requests about the same issuer, serial and
// CertID hash, so a revocation (or a newly issued certificate) recorded in
// the inventory is reflected in this responder's answers within CacheTTL.
// GET answers also carry RFC 5019 §6.2 HTTP caching headers (ETag,
// Last-Modified, Expires and max-age up to nextUpdate), so HTTP caches and
// clients may, as OCSP intends, keep an answer until its nextUpdate:
// Validity, not CacheTTL, bounds what they see.
func NewOCSPResponder(cfg ResponderConfig, more ...ResponderConfig) (http.Handler, error) {
	r := &ocspResponder{}
	for _, c := range append([]ResponderConfig{cfg}, more...) {
		is, err := newOCSPIssuer(c)
		if err != nil {
			return nil, err
		}
		if r.logger == nil {
			r.logger = c.Logger
		}
		r.issuers = append(r.issuers, is)
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

func newOCSPIssuer(c ResponderConfig) (*ocspIssuer, error) {
	if c.Issuer == nil || c.Signer == nil || c.Store == nil {
		return nil, errors.New("ocsp responder: issuer, signer and store are required")
	}
	if len(c.Issuer.SubjectKeyId) == 0 {
		return nil, errors.New("ocsp responder: issuer has no subject key identifier")
	}
	responder := c.Issuer
	if c.Certificate != nil {
		if err := checkDelegate(c.Certificate, c.Issuer, nowOr(c.Now)); err != nil {
			return nil, fmt.Errorf("ocsp responder: %w", err)
		}
		responder = c.Certificate
	}
	if !publicKeysEqual(responder.PublicKey, c.Signer.Public()) {
		return nil, errors.New("ocsp responder: signer key does not match the responder certificate")
	}
	spk, err := subjectPublicKey(c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("ocsp responder: %w", err)
	}
	is := &ocspIssuer{cfg: c, keyID: hex.EncodeToString(c.Issuer.SubjectKeyId), responder: responder,
		nameHash: map[crypto.Hash][]byte{}, keyHash: map[crypto.Hash][]byte{}, validity: c.Validity}
	if is.validity <= 0 {
		is.validity = DefaultOCSPValidity
	}
	if ttl := cacheTTL(c.CacheTTL, is.validity); ttl > 0 {
		is.cache = newResponseCache(ttl, maxCachedResponses)
	}
	for _, h := range hashes {
		is.nameHash[h] = digest(h, c.Issuer.RawSubject)
		is.keyHash[h] = digest(h, spk)
	}
	return is, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// subjectPublicKey returns the bits of the issuer's subjectPublicKey, which
// is what CertID.issuerKeyHash hashes (RFC 6960 §4.1.1).
func subjectPublicKey(cert *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("parse issuer public key: %w", err)
	}
	return spki.PublicKey.RightAlign(), nil
}

func digest(h crypto.Hash, data []byte) []byte {
	w := h.New()
	w.Write(data)
	return w.Sum(nil)
}

func (r *ocspResponder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	der, status := readOCSPRequest(w, req)
	if status != http.StatusOK {
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, POST")
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	ans, now := &malformedAnswer, time.Time{}
	if der != nil {
		ans, now = r.respond(req, der)
	}
	writeOCSP(w, req, ans, now)
}

// readOCSPRequest returns the DER request, nil with 200 for a request that
// deserves malformedRequest, or an HTTP error status.
func readOCSPRequest(w http.ResponseWriter, req *http.Request) ([]byte, int) {
	switch req.Method {
	case http.MethodPost:
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxOCSPRequestSize))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge
		}
		if err != nil {
			return nil, http.StatusBadRequest
		}
		return body, http.StatusOK
	case http.MethodGet:
		// The base64 request may itself contain '/', so take everything after
		// the mount point rather than the last path segment.
		p := req.URL.EscapedPath()
		if i := strings.Index(p, "/ocsp/"); i >= 0 {
			p = p[i+len("/ocsp/"):]
		}
		p = strings.TrimPrefix(p, "/")
		if len(p) > 2*MaxOCSPRequestSize {
			return nil, http.StatusRequestURITooLong
		}
		enc, err := url.PathUnescape(p)
		if err != nil {
			return nil, http.StatusOK
		}
		der, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(der) == 0 {
			return nil, http.StatusOK
		}
		return der, http.StatusOK
	default:
		return nil, http.StatusMethodNotAllowed
	}
}

// writeOCSP sends an answer. Signed answers to GET requests get the
// RFC 5019 §6.2 caching headers and honour If-None-Match; everything else
// is marked not cacheable.
func writeOCSP(w http.ResponseWriter, req *http.Request, ans *ocspAnswer, now time.Time) {
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	if req.Method == http.MethodGet && !ans.nextUpdate.IsZero() {
		// Let caches keep a GET response until its nextUpdate, no longer.
		maxAge := max(int(ans.nextUpdate.Sub(now).Seconds()), 0)
		h.Set("Cache-Control", "max-age="+strconv.Itoa(maxAge)+", public, no-transform, must-revalidate")
		h.Set("Expires", ans.nextUpdate.Format(http.TimeFormat))
		h.Set("Last-Modified", ans.thisUpdate.Format(http.TimeFormat))
		h.Set("ETag", ans.etag)
		if req.Header.Get("If-None-Match") == ans.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Content-Length", strconv.Itoa(len(ans.der)))
	w.WriteHeader(http.StatusOK)
	w.Write(ans.der)
}

// Unsigned answers (RFC 6960 §4.2.1 error statuses), never cached.
var (
	malformedAnswer    = ocspAnswer{der: ocsp.MalformedRequestErrorResponse}
	unauthorizedAnswer = ocspAnswer{der: ocsp.UnauthorizedErrorResponse}
	tryLaterAnswer     = ocspAnswer{der: ocsp.TryLaterErrorResponse}
	internalAnswer     = ocspAnswer{der: ocsp.InternalErrorErrorResponse}
)

// respond answers one DER OCSP request, from the cache when it holds a
// fresh answer, and returns it with the responder's current time.
func (r *ocspResponder) respond(req *http.Request, der []byte) (*ocspAnswer, time.Time) {
	oreq, err := ocsp.ParseRequest(der)
	if err != nil {
		return &malformedAnswer, time.Time{}
	}
	is := r.issuerFor(oreq)
	if is == nil {
		return &unauthorizedAnswer, time.Time{}
	}
	now := nowOr(is.cfg.Now)
	key := cacheKey{hash: oreq.HashAlgorithm, serial: oreq.SerialNumber.Text(16)}
	if ans := is.cache.get(key, now); ans != nil {
		return ans, now
	}
	ans := r.sign(req, is, oreq, key.serial, now)
	if !ans.nextUpdate.IsZero() {
		is.cache.put(key, ans, now)
	}
	return ans, now
}

// sign looks the serial up in the inventory and signs a fresh answer.
func (r *ocspResponder) sign(req *http.Request, is *ocspIssuer, oreq *ocsp.Request, serial string, now time.Time) *ocspAnswer {
	thisUpdate := now.UTC().Truncate(time.Second)
	tmpl := ocsp.Response{
		Status:       ocsp.Unknown,
		SerialNumber: oreq.SerialNumber,
		ThisUpdate:   thisUpdate,
		NextUpdate:   thisUpdate.Add(is.validity),
		IssuerHash:   oreq.HashAlgorithm, // echo the client's CertID hash so it can match the response
		Certificate:  is.cfg.Certificate,
	}
	if oreq.SerialNumber.Sign() > 0 {
		rec, err := is.cfg.Store.Get(req.Context(), is.keyID, serial)
		switch {
		case errors.Is(err, inventory.ErrNotFound):
		case err != nil:
			r.logger.Error("ocsp: inventory lookup failed", "issuer", is.keyID, "err", err)
			return &tryLaterAnswer
		case rec.Status == inventory.StatusRevoked:
			tmpl.Status = ocsp.Revoked
			if rec.RevokedAt != nil {
				tmpl.RevokedAt = rec.RevokedAt.UTC()
			}
			if rec.Reason != nil {
				tmpl.RevocationReason = *rec.Reason
			}
		default:
			tmpl.Status = ocsp.Good
		}
	}
	resp, err := ocsp.CreateResponse(is.cfg.Issuer, is.responder, tmpl, is.cfg.Signer)
	if err != nil {
		r.logger.Error("ocsp: sign response failed", "issuer", is.keyID, "err", err)
		return &internalAnswer
	}
	sum := sha256.Sum256(resp)
	return &ocspAnswer{der: resp, thisUpdate: tmpl.ThisUpdate, nextUpdate: tmpl.NextUpdate,
		etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

func (r *ocspResponder) issuerFor(req *ocsp.Request) *ocspIssuer {
	if !slices.Contains(hashes, req.HashAlgorithm) {
		return nil
	}
	for _, is := range r.issuers {
		if bytes.Equal(is.nameHash[req.HashAlgorithm], req.IssuerNameHash) &&
			bytes.Equal(is.keyHash[req.HashAlgorithm], req.IssuerKeyHash) {
			return is
		}
	}
	return nil
}
