package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestHTTPHandlerCRLAndCA(t *testing.T) {
	f := newCRLFixture(t)
	caPEM, _ := os.ReadFile(f.root.path)
	srv := httptest.NewServer(NewHTTPHandler(ServerConfig{CACertPEM: caPEM, CRLPath: f.path}))
	defer srv.Close()

	get := func(method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, body := get(http.MethodGet, "/crl")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET /crl: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rl, err := x509.ParseRevocationList(body)
	if err != nil || rl.CheckSignatureFrom(f.root.cert) != nil {
		t.Fatalf("served CRL invalid: %v", err)
	}
	maxAge := strings.TrimSuffix(strings.SplitN(strings.TrimPrefix(resp.Header.Get("Cache-Control"), "public, max-age="), ",", 2)[0], " ")
	if secs, err := strconv.Atoi(maxAge); err != nil || secs <= 0 || time.Duration(secs)*time.Second > time.Until(rl.NextUpdate) {
		t.Errorf("Cache-Control %q does not follow nextUpdate %v", resp.Header.Get("Cache-Control"), rl.NextUpdate)
	}
	if exp, err := http.ParseTime(resp.Header.Get("Expires")); err != nil || !exp.Equal(rl.NextUpdate) {
		t.Errorf("Expires %q, nextUpdate %v", resp.Header.Get("Expires"), rl.NextUpdate)
	}
	if r, _ := get(http.MethodGet, "/crl", "If-None-Match", resp.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", r.StatusCode)
	}

	// A republished CRL is served at once: publishing renames a new file
	// into place, which the server notices whatever the modification time.
	fi, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.publish(t)
	// As on a filesystem with coarse timestamps: the same modification time.
	if err := os.Chtimes(f.path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	_, body2 := get(http.MethodGet, "/crl")
	rl2, err := x509.ParseRevocationList(body2)
	if err != nil || rl2.Number.Cmp(rl.Number) <= 0 {
		t.Errorf("republished CRL not served: %v", err)
	}

	if r, b := get(http.MethodGet, "/ca.pem"); r.StatusCode != 200 || string(b) != string(caPEM) {
		t.Errorf("GET /ca.pem: %d", r.StatusCode)
	}
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/crl", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/ca.pem", http.StatusMethodNotAllowed},
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/ocsp", http.StatusNotFound}, // no responder configured
	} {
		if r, _ := get(tt.method, tt.path); r.StatusCode != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, r.StatusCode, tt.status)
		}
	}
	os.Remove(f.path)
	if r, _ := get(http.MethodGet, "/crl"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("missing CRL: %d", r.StatusCode)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("done"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel() // shutdown begins with a request in flight
	// The listener closes while the request is still in flight (a poll
	// with a hang bound: shutdown runs in Serve's goroutine).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 30 s after shutdown began")
		}
	}
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("in-flight request: %q", b)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = Serve(context.Background(), ln, http.NotFoundHandler())
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on closed listener = %v", err)
	}
}
