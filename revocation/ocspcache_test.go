package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/securechat/scca/certstore"
)

// countingGetter counts inventory lookups, to tell cached answers from
// fresh ones.
type countingGetter struct {
	RecordGetter
	n atomic.Int64
}

func (c *countingGetter) Get(ctx context.Context, issuerKeyID, serial string) (certstore.Record, error) {
	c.n.Add(1)
	return c.RecordGetter.Get(ctx, issuerKeyID, serial)
}

// manualClock is a settable clock safe for concurrent reads.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// askOCSP sends one OCSP request for leaf to h by GET (or POST) and returns
// the recorded response.
func askOCSP(t *testing.T, h http.Handler, method string, reqDER []byte, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		req = httptest.NewRequest(method, "/ocsp/"+strings.NewReplacer("/", "%2F", "+", "%2B", "=", "%3D").Replace(base64.StdEncoding.EncodeToString(reqDER)), nil)
	} else {
		req = httptest.NewRequest(method, "/ocsp", bytes.NewReader(reqDER))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestOCSPCacheFreshnessBound(t *testing.T) {
	f := newOCSPFixture(t)
	clk := &manualClock{t: time.Now()}
	st := &countingGetter{RecordGetter: f.st}
	const ttl = 3 * time.Second
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: st, CacheTTL: ttl, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	reqDER, _ := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)
	status := func(method string) int {
		t.Helper()
		w := askOCSP(t, h, method, reqDER)
		r, err := ocsp.ParseResponseForCert(w.Body.Bytes(), f.good.cert, f.root.cert)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if s := status(http.MethodGet); s != ocsp.Good {
		t.Fatalf("status %d, want good", s)
	}
	f.st.revoke(t, f.good.cert, 1, clk.Now())

	// Within the bound the signed answer is reused (GET and POST alike)...
	clk.Add(ttl - time.Millisecond)
	if s := status(http.MethodPost); s != ocsp.Good || st.n.Load() != 1 {
		t.Errorf("just before the bound: status %d after %d lookups, want a cached good after 1", s, st.n.Load())
	}
	// ...and from the bound on, the revocation shows.
	clk.Add(time.Millisecond)
	if s := status(http.MethodGet); s != ocsp.Revoked || st.n.Load() != 2 {
		t.Errorf("at the bound: status %d after %d lookups, want revoked after 2", s, st.n.Load())
	}
}

func TestOCSPCacheDisabledAndCapped(t *testing.T) {
	f := newOCSPFixture(t)
	reqDER, _ := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)
	st := &countingGetter{RecordGetter: f.st}
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: st, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		askOCSP(t, h, http.MethodGet, reqDER)
	}
	if st.n.Load() != 3 {
		t.Errorf("cache disabled: %d lookups for 3 requests", st.n.Load())
	}
	for _, tt := range []struct{ ttl, validity, want time.Duration }{
		{0, time.Hour, DefaultOCSPCacheTTL},
		{-1, time.Hour, 0},
		{time.Minute, time.Hour, time.Minute},
		{time.Minute, 10 * time.Second, time.Second},
		{0, 5 * time.Second, 500 * time.Millisecond},
	} {
		if got := cacheTTL(tt.ttl, tt.validity); got != tt.want {
			t.Errorf("cacheTTL(%v, %v) = %v, want %v", tt.ttl, tt.validity, got, tt.want)
		}
	}
}

func TestOCSPCacheKeepsHashAlgorithmsApart(t *testing.T) {
	f := newOCSPFixture(t)
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA1} {
		reqDER, _ := ocsp.CreateRequest(f.revoked.cert, f.root.cert, &ocsp.RequestOptions{Hash: hash})
		w := askOCSP(t, h, http.MethodPost, reqDER)
		r, err := ocsp.ParseResponseForCert(w.Body.Bytes(), f.revoked.cert, f.root.cert)
		if err != nil || r.IssuerHash != hash || r.Status != ocsp.Revoked {
			t.Errorf("%v request: response hash %v, status %d, %v", hash, r.IssuerHash, r.Status, err)
		}
	}
}

func TestOCSPCachingHeaders(t *testing.T) {
	f := newOCSPFixture(t)
	now := time.Now().Truncate(time.Second)
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: f.st,
		Validity: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	reqDER, _ := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)
	w := askOCSP(t, h, http.MethodGet, reqDER)
	hd := w.Header()
	etag := hd.Get("ETag")
	if w.Code != 200 || len(etag) < 10 || hd.Get("Cache-Control") != "max-age=3600, public, no-transform, must-revalidate" ||
		hd.Get("Last-Modified") != now.UTC().Format(http.TimeFormat) || hd.Get("Expires") != now.Add(time.Hour).UTC().Format(http.TimeFormat) {
		t.Errorf("GET: %d %v", w.Code, hd)
	}
	if w := askOCSP(t, h, http.MethodGet, reqDER, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := askOCSP(t, h, http.MethodGet, reqDER, "If-None-Match", `"other"`); w.Code != 200 || w.Body.Len() < 100 {
		t.Errorf("other ETag: %d, %d bytes", w.Code, w.Body.Len())
	}
	w = askOCSP(t, h, http.MethodPost, reqDER, "If-None-Match", etag)
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("ETag") != "" {
		t.Errorf("POST: %d %v", w.Code, w.Header())
	}
}

func TestOCSPCacheSkipsFailures(t *testing.T) {
	f := newOCSPFixture(t)
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	reqDER, _ := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)
	f.st.mu.Lock()
	f.st.failGet = errDBGone
	f.st.mu.Unlock()
	if w := askOCSP(t, h, http.MethodGet, reqDER); !bytes.Equal(w.Body.Bytes(), ocsp.TryLaterErrorResponse) || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("store down: %x %v", w.Body.Bytes(), w.Header())
	}
	f.st.mu.Lock()
	f.st.failGet = nil
	f.st.mu.Unlock()
	w := askOCSP(t, h, http.MethodGet, reqDER)
	if r, err := ocsp.ParseResponseForCert(w.Body.Bytes(), f.good.cert, f.root.cert); err != nil || r.Status != ocsp.Good {
		t.Errorf("after recovery: %v, %v", r, err)
	}
}

func TestResponseCacheBounded(t *testing.T) {
	now := time.Now()
	c := newResponseCache(time.Second, 3)
	c.put("1", &ocspAnswer{}, now)
	c.put("2", &ocspAnswer{}, now.Add(500*time.Millisecond))
	c.put("3", &ocspAnswer{}, now.Add(500*time.Millisecond))
	// Full: the expired "1" makes room, the others stay.
	later := now.Add(time.Second)
	c.put("4", &ocspAnswer{}, later)
	if len(c.m) != 3 || c.get([]byte("1"), later) != nil || c.get([]byte("2"), later) == nil {
		t.Errorf("after expiry eviction: %d entries", len(c.m))
	}
	// Full of fresh answers: it starts over rather than grow.
	c.put("5", &ocspAnswer{}, later)
	if len(c.m) != 1 || c.get([]byte("5"), later) == nil {
		t.Errorf("after overflow: %d entries", len(c.m))
	}
	if c.get([]byte("5"), later.Add(time.Second)) != nil {
		t.Error("expired answer returned")
	}
	var none *responseCache
	none.put("1", &ocspAnswer{}, now)
	if none.get([]byte("1"), now) != nil {
		t.Error("nil cache returned an answer")
	}
}

// A cached answer is found by the request's bytes, before and instead of
// parsing it: a hit allocates nothing in the responder. A request with a
// nonce is never answered from the cache, even after the same request
// without one was cached, and gets its own nonce back.
func TestOCSPCacheHitSkipsParsing(t *testing.T) {
	f := newOCSPFixture(t)
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	r := h.(*ocspResponder)
	reqDER := ocspRequestDER(t, f.root.cert, nil, f.good.cert)
	req := httptest.NewRequest(http.MethodPost, "/ocsp", nil)
	first, _ := r.respond(req, reqDER)
	if first.nextUpdate.IsZero() {
		t.Fatalf("not signed: %x", first.der)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if ans, _ := r.respond(req, reqDER); ans != first {
			t.Fatal("not answered from the cache")
		}
	}); allocs != 0 {
		t.Errorf("cache hit: %v allocations, want 0 (the request was parsed)", allocs)
	}
	for _, n := range [][]byte{[]byte("nonce-one-0123456"), []byte("nonce-two-0123456")} {
		ans, _ := r.respond(req, ocspRequestDER(t, f.root.cert, []pkix.Extension{nonceExt(t, n)}, f.good.cert))
		if ans == first || !bytes.Equal(responseNonce(t, ans.der), n) {
			t.Errorf("nonce %q: cached answer or nonce not echoed", n)
		}
	}
}
