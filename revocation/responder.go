package revocation

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
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
	"sync"
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

// DefaultOCSPLookupTimeout bounds the inventory lookups of one OCSP request
// when ResponderConfig.LookupTimeout is zero: past it the responder answers
// tryLater (RFC 6960 §4.2.1) rather than keeping the client waiting on a
// database that does not answer.
const DefaultOCSPLookupTimeout = 2 * time.Second

// DelegateSource supplies the delegated responder certificate (issued by the
// CA with id-kp-OCSPSigning) and its key in force at now. It is asked before
// every signature, so a renewed certificate takes effect at once; it should
// be cheap when nothing changed. ca.ResponderSource implements it.
type DelegateSource interface {
	Delegate(ctx context.Context, now time.Time) (*x509.Certificate, crypto.Signer, error)
}

// ResponderConfig configures one issuer of an OCSP responder. Responses are
// signed by Delegate when it is set, else by Signer: the CA's key (with
// Certificate nil) or a fixed delegated responder's (with Certificate).
type ResponderConfig struct {
	Issuer      *x509.Certificate // the CA whose certificates are answered for
	Delegate    DelegateSource    // the delegated responder, renewed behind our back; excludes Signer and Certificate
	Signer      crypto.Signer     // the key that signs responses: the CA's, or Certificate's
	Certificate *x509.Certificate // delegated responder certificate (id-kp-OCSPSigning, issued by Issuer); nil when the CA signs
	Store       RecordGetter
	Validity    time.Duration // 0 means DefaultOCSPValidity
	// CacheTTL is how long a signed response is reused for further requests
	// about the same serial (see the freshness note at NewOCSPResponder):
	// 0 means DefaultOCSPCacheTTL, negative disables reuse. It is capped at
	// a tenth of Validity.
	CacheTTL time.Duration
	// LookupTimeout bounds the inventory lookups of one request; 0 means
	// DefaultOCSPLookupTimeout.
	LookupTimeout time.Duration
	Now           func() time.Time // nil means time.Now
	Logger        *slog.Logger     // store failures are logged here; nil discards
}

type ocspIssuer struct {
	cfg           ResponderConfig
	keyID         string // lower-case hex of the issuer's subject key identifier
	nameHash      map[crypto.Hash][]byte
	keyHash       map[crypto.Hash][]byte
	validity      time.Duration
	lookupTimeout time.Duration
	cache         *responseCache // nil when responses are not reused

	mu      sync.Mutex
	current *x509.Certificate // the delegate last checked against the issuer
	signing responseSigner    // what signs: fixed, or for current
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
// unknown, one SingleResponse for every certificate of the request (RFC 6960
// §4.2.2.3); a malformed request gets malformedRequest, a request for another
// issuer unauthorized (RFC 5019 §2.2.3), an inventory failure or a lookup
// slower than LookupTimeout tryLater. A request's nonce (RFC 8954) is echoed.
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
	if c.Issuer == nil || c.Store == nil || (c.Signer == nil) == (c.Delegate == nil) {
		return nil, errors.New("ocsp responder: issuer, store and either a signer or a delegate source are required")
	}
	if len(c.Issuer.SubjectKeyId) == 0 {
		return nil, errors.New("ocsp responder: issuer has no subject key identifier")
	}
	spk, err := subjectPublicKey(c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("ocsp responder: %w", err)
	}
	is := &ocspIssuer{cfg: c, keyID: hex.EncodeToString(c.Issuer.SubjectKeyId),
		nameHash: map[crypto.Hash][]byte{}, keyHash: map[crypto.Hash][]byte{},
		validity: cmp.Or(max(c.Validity, 0), DefaultOCSPValidity), lookupTimeout: cmp.Or(max(c.LookupTimeout, 0), DefaultOCSPLookupTimeout)}
	if c.Signer != nil {
		responder := c.Issuer
		if c.Certificate != nil {
			if err := checkDelegate(c.Certificate, c.Issuer, nowOr(c.Now)); err != nil {
				return nil, fmt.Errorf("ocsp responder: %w", err)
			}
			responder = c.Certificate
			is.signing.certDER = c.Certificate.Raw
		}
		if !publicKeysEqual(responder.PublicKey, c.Signer.Public()) {
			return nil, errors.New("ocsp responder: signer key does not match the responder certificate")
		}
		is.signing.key, is.signing.responderID = c.Signer, responder.RawSubject
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

// signer returns what signs a response at now: the fixed signer, or the
// delegate source's current certificate once it is checked to be a valid
// OCSP delegate of this issuer (RFC 6960 §4.2.2.2) with a matching key.
func (is *ocspIssuer) signer(ctx context.Context, now time.Time) (responseSigner, error) {
	if is.cfg.Delegate == nil {
		return is.signing, nil
	}
	cert, key, err := is.cfg.Delegate.Delegate(ctx, now)
	if err != nil {
		return responseSigner{}, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if cert != is.current || now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		if err := checkDelegate(cert, is.cfg.Issuer, now); err != nil {
			return responseSigner{}, err
		}
		if !publicKeysEqual(cert.PublicKey, key.Public()) {
			return responseSigner{}, errors.New("responder key does not match the responder certificate")
		}
		is.current = cert
		is.signing = responseSigner{key: key, responderID: cert.RawSubject, certDER: cert.Raw}
	}
	return is.signing, nil
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
	// Header values are assigned under their canonical keys and shared,
	// read-only, between responses: nothing in net/http modifies them.
	h := w.Header()
	h["Content-Type"] = ocspContentType
	if req.Method == http.MethodGet && !ans.nextUpdate.IsZero() {
		// Let caches keep a GET response until its nextUpdate, no longer.
		maxAge := max(int(ans.nextUpdate.Sub(now).Seconds()), 0)
		h["Cache-Control"] = []string{"max-age=" + strconv.Itoa(maxAge) + ", public, no-transform, must-revalidate"}
		h["Expires"] = ans.expiresHdr
		h["Last-Modified"] = ans.lastModified
		h["Etag"] = ans.etagHdr
		if req.Header.Get("If-None-Match") == ans.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else {
		h["Cache-Control"] = noStore
	}
	h["Content-Length"] = ans.length
	w.WriteHeader(http.StatusOK)
	w.Write(ans.der)
}

var (
	ocspContentType = []string{"application/ocsp-response"}
	noStore         = []string{"no-store"}
)

// Unsigned answers (RFC 6960 §4.2.1 error statuses), never cached.
var (
	malformedAnswer    = unsignedAnswer(ocsp.MalformedRequestErrorResponse)
	unauthorizedAnswer = unsignedAnswer(ocsp.UnauthorizedErrorResponse)
	tryLaterAnswer     = unsignedAnswer(ocsp.TryLaterErrorResponse)
	internalAnswer     = unsignedAnswer(ocsp.InternalErrorErrorResponse)
)

// respond answers one DER OCSP request, from the cache when it holds a
// fresh answer, and returns it with the responder's current time. Only
// single-certificate requests without a nonce (the RFC 5019 profile every
// browser and OCSPChecker use) are cached: a nonce makes each response
// unique. The caches are keyed by the request's bytes, so a hit is found
// before, and instead of, parsing the request; only a request this issuer
// answered was ever put in its cache.
func (r *ocspResponder) respond(req *http.Request, der []byte) (*ocspAnswer, time.Time) {
	for _, is := range r.issuers {
		if is.cache == nil {
			continue
		}
		now := nowOr(is.cfg.Now)
		if ans := is.cache.get(der, now); ans != nil {
			return ans, now
		}
	}
	preq, err := parseOCSPRequest(der)
	if err != nil {
		return &malformedAnswer, time.Time{}
	}
	is := r.issuerFor(preq.certs)
	if is == nil {
		return &unauthorizedAnswer, time.Time{}
	}
	now := nowOr(is.cfg.Now)
	ans := r.sign(req.Context(), is, preq, now)
	if len(preq.certs) == 1 && preq.nonce == nil && !ans.nextUpdate.IsZero() {
		is.cache.put(string(der), ans, now)
	}
	return ans, now
}

// sign looks every certificate of the request up in the inventory, within
// the issuer's lookup timeout, and signs one SingleResponse for each (RFC
// 6960 §4.2.2.3). A certificate of another issuer than the one answering is
// unknown to this responder. If any lookup fails or times out the whole
// request gets tryLater: a partial answer would be signed evidence of
// nothing.
func (r *ocspResponder) sign(ctx context.Context, is *ocspIssuer, preq *parsedRequest, now time.Time) *ocspAnswer {
	// thisUpdate and producedAt are the same second, so producedAt never
	// precedes thisUpdate (x/crypto/ocsp truncates producedAt to the minute).
	thisUpdate := now.UTC().Truncate(time.Second)
	ctx, cancel := context.WithTimeout(ctx, is.lookupTimeout)
	defer cancel()
	// A revoked issuing CA answers nothing more (issue 8), also when it is
	// revoked while this process runs: its own row is read beside the
	// certificates' rows, on every answer that is not from the cache.
	switch revoked, err := is.issuerRevoked(ctx); {
	case err != nil:
		r.logger.Error("ocsp: inventory lookup of the issuer failed", "issuer", is.keyID, "err", err)
		return &tryLaterAnswer
	case revoked:
		r.logger.Warn("ocsp: the issuing CA is revoked; not answering for it", "issuer", is.keyID)
		return &unauthorizedAnswer
	}
	answers := make([]singleAnswer, 0, len(preq.certs))
	for _, q := range preq.certs {
		a := singleAnswer{id: q.raw, status: statusUnknown, thisUpdate: thisUpdate, nextUpdate: thisUpdate.Add(is.validity)}
		if is.matches(q) && q.serial.Sign() > 0 {
			rec, err := is.lookup(ctx, q.serial.Text(16))
			switch {
			case errors.Is(err, inventory.ErrNotFound):
			case err != nil:
				r.logger.Error("ocsp: inventory lookup failed", "issuer", is.keyID, "err", err)
				return &tryLaterAnswer
			case rec.Status == inventory.StatusRevoked:
				a.status = statusRevoked
				if rec.RevokedAt != nil {
					a.revokedAt = rec.RevokedAt.UTC()
				}
				if rec.Reason != nil {
					a.reason = *rec.Reason
				}
			default:
				a.status = statusGood
			}
		}
		answers = append(answers, a)
	}
	signer, err := is.signer(ctx, now)
	if err != nil {
		r.logger.Error("ocsp: no usable responder key", "issuer", is.keyID, "err", err)
		return &internalAnswer
	}
	resp, err := buildResponse(signer, answers, thisUpdate, preq.nonce)
	if err != nil {
		r.logger.Error("ocsp: sign response failed", "issuer", is.keyID, "err", err)
		return &internalAnswer
	}
	return newSignedAnswer(resp, thisUpdate, thisUpdate.Add(is.validity))
}

// lookup reads one inventory row, giving up when ctx ends even if the store
// does not honour ctx (a driver stuck in a read on a black-holed
// connection): the responder answers tryLater in time, and the lookup's
// goroutine ends whenever the store returns.
func (is *ocspIssuer) lookup(ctx context.Context, serial string) (inventory.Record, error) {
	return is.lookupIn(ctx, is.keyID, serial)
}

// issuerRevoked reports whether the inventory records the issuer itself
// as revoked (by its own issuer). A self-signed root has no such row that
// could say so (it cannot be revoked), nor has an issuer the inventory
// does not know.
func (is *ocspIssuer) issuerRevoked(ctx context.Context) (bool, error) {
	c := is.cfg.Issuer
	if len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId) {
		return false, nil
	}
	rec, err := is.lookupIn(ctx, hex.EncodeToString(c.AuthorityKeyId), c.SerialNumber.Text(16))
	switch {
	case errors.Is(err, inventory.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return rec.Status == inventory.StatusRevoked, nil
}

// lookupIn is lookup of a row of any issuer.
func (is *ocspIssuer) lookupIn(ctx context.Context, keyID, serial string) (inventory.Record, error) {
	type result struct {
		rec inventory.Record
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := is.cfg.Store.Get(ctx, keyID, serial)
		done <- result{rec, err}
	}()
	select {
	case r := <-done:
		return r.rec, r.err
	case <-ctx.Done():
		return inventory.Record{}, fmt.Errorf("inventory lookup of %s: %w", serial, ctx.Err())
	}
}

// issuerFor returns the issuer that answers a request: the one of its first
// certificate that this responder serves.
func (r *ocspResponder) issuerFor(certs []certQuery) *ocspIssuer {
	for _, q := range certs {
		for _, is := range r.issuers {
			if is.matches(q) {
				return is
			}
		}
	}
	return nil
}

// matches reports whether q names a certificate of this issuer.
func (is *ocspIssuer) matches(q certQuery) bool {
	return slices.Contains(hashes, q.hash) &&
		bytes.Equal(is.nameHash[q.hash], q.raw.NameHash) && bytes.Equal(is.keyHash[q.hash], q.raw.IssuerKeyHash)
}
