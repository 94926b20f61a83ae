package web_test

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securechat/scca/web"
)

func TestHandlerHeadersAndRoutes(t *testing.T) {
	ws := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := web.Handler(web.Options{WebSocket: ws, RootPEM: []byte("ROOT")})
	get := func(method, path string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader("{}"))
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	for _, p := range []string{"/", "/app.js", "/style.css", "/ca.pem"} {
		rec := get("GET", p, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", p, rec.Code)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); csp != web.ContentSecurityPolicy || strings.Contains(csp, "unsafe") {
			t.Fatalf("GET %s: CSP %q", p, csp)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: no nosniff", p)
		}
	}
	if body := get("GET", "/", nil).Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, `src="app.js"`) {
		t.Fatal("index.html must load app.js and have no inline script")
	}
	if rec := get("GET", "/anything", map[string]string{"Upgrade": "websocket", "Connection": "keep-alive, Upgrade"}); rec.Code != http.StatusTeapot {
		t.Fatalf("upgrade not passed to the WebSocket handler: %d", rec.Code)
	}
	if rec := get("GET", "/secret", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /secret = %d", rec.Code)
	}
	if rec := get("POST", "/v1/sign", nil); rec.Code != http.StatusNotFound ||
		!strings.Contains(rec.Body.String(), "enrolment is not offered by this server") || strings.Contains(rec.Body.String(), "--") {
		t.Fatalf("POST /v1/sign without relay = %d %s, want the library's advice-free refusal", rec.Code, rec.Body)
	}
	// The embedding program (the CLI) words the refusal with its advice.
	h = web.Handler(web.Options{WebSocket: ws, NoEnrollReason: "ask the operator"})
	if rec := get("POST", "/v1/sign", nil); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"ask the operator"`) {
		t.Fatalf("POST /v1/sign with NoEnrollReason = %d %s", rec.Code, rec.Body)
	}
}

func TestSignRelayRefusesBadTargets(t *testing.T) {
	pool := x509.NewCertPool()
	for _, u := range []string{"http://127.0.0.1:1", "https://", "https://h/v2", "::"} {
		if _, err := web.NewSignRelay(web.RelayOptions{CAURL: u, Roots: pool}); err == nil {
			t.Fatalf("NewSignRelay(%q) accepted", u)
		}
	}
	if _, err := web.NewSignRelay(web.RelayOptions{CAURL: "https://127.0.0.1:1"}); err == nil {
		t.Fatal("NewSignRelay without roots accepted")
	}
	// A CA API whose certificate does not chain to the roots is not trusted.
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the relay talked to an unverified CA API")
	}))
	defer api.Close()
	relay, err := web.NewSignRelay(web.RelayOptions{CAURL: api.URL, Roots: pool})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	relay.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/sign", strings.NewReader(`{"token":"t","csr":"c"}`)))
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("relay to an unverified CA API = %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	relay.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/sign", strings.NewReader(`not json`)))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("relay of non-JSON = %d", rec.Code)
	}
}

// The CA API sees every relayed enrolment as coming from the chat server,
// so the relay keeps the API's failure budget per browser address: one
// browser's failed tokens stop it at the relay (429, the API never asked)
// without stopping another browser, and the budget refills with time.
func TestSignRelayLimitsFailuresPerBrowser(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid or already used token"}`))
	}))
	defer api.Close()
	pool := x509.NewCertPool()
	pool.AddCert(api.Certificate())
	now := time.Unix(1_700_000_000, 0)
	relay, err := web.NewSignRelay(web.RelayOptions{CAURL: api.URL, Roots: pool, FailureBurst: 2, FailureEvery: time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	post := func(remote string) int {
		r := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(`{"token":"t","csr":"c"}`))
		r.RemoteAddr = remote
		rec := httptest.NewRecorder()
		relay.ServeHTTP(rec, r)
		return rec.Code
	}
	for i := range 2 {
		if code := post("192.0.2.1:4000"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d relayed as %d", i+1, code)
		}
	}
	if code := post("192.0.2.1:4001"); code != http.StatusTooManyRequests {
		t.Fatalf("third failure from the same browser = %d, want 429", code)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the CA API was asked %d times, want 2", n)
	}
	if code := post("192.0.2.2:4000"); code != http.StatusUnauthorized {
		t.Fatalf("another browser = %d, want its request relayed", code)
	}
	now = now.Add(time.Minute)
	if code := post("192.0.2.1:4002"); code != http.StatusUnauthorized {
		t.Fatalf("after a minute = %d, want one more attempt relayed", code)
	}
	if code := post("192.0.2.1:4003"); code != http.StatusTooManyRequests {
		t.Fatalf("right after = %d, want 429", code)
	}
}
