package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

type ocspFixture struct {
	dir                    string
	root                   *testCA
	st                     *fakeStore
	good, revoked, unknown *testCA
	delegate               *testCA
}

func newOCSPFixture(t *testing.T) *ocspFixture {
	f := &ocspFixture{dir: t.TempDir(), st: newFakeStore()}
	f.root = newRootCA(t, f.dir, "root", nil)
	f.good, f.revoked, f.unknown = f.root.leaf(t, f.dir, "good"), f.root.leaf(t, f.dir, "revoked"), f.root.leaf(t, f.dir, "unknown")
	f.st.add(f.good.cert, "server")
	f.st.add(f.revoked.cert, "client")
	f.st.revoke(t, f.revoked.cert, 1, time.Now().Add(-time.Hour))
	now := time.Now()
	f.delegate = f.root.leafValid(t, f.dir, "ocsp-signer", now.Add(-time.Hour), now.Add(24*time.Hour), x509.ExtKeyUsageOCSPSigning)
	return f
}

func (f *ocspFixture) server(t *testing.T, delegated bool) *httptest.Server {
	t.Helper()
	cfg := ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: f.st}
	if delegated {
		cfg.Signer, cfg.Certificate = f.delegate.key, f.delegate.cert
	}
	h, err := NewOCSPResponder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(ServerConfig{OCSP: h}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOCSPResponderWithOpenSSL(t *testing.T) {
	f := newOCSPFixture(t)
	for _, delegated := range []bool{false, true} {
		srv := f.server(t, delegated)
		for _, tt := range []struct {
			leaf *testCA
			want []string
		}{
			{f.good, []string{": good"}},
			{f.revoked, []string{": revoked", "Reason: keyCompromise", "Revocation Time"}},
			{f.unknown, []string{": unknown"}},
		} {
			name := tt.leaf.cert.Subject.CommonName
			if delegated {
				name += "/delegated"
			}
			t.Run(name, func(t *testing.T) {
				out := mustOpenSSL(t, "ocsp", "-issuer", f.root.path, "-cert", tt.leaf.path,
					"-url", srv.URL+"/ocsp", "-CAfile", f.root.path, "-resp_text")
				for _, w := range append(tt.want, "Response verify OK") {
					if !strings.Contains(out, w) {
						t.Errorf("openssl ocsp output lacks %q:\n%s", w, out)
					}
				}
			})
		}
	}
}

func TestOCSPChecker(t *testing.T) {
	f := newOCSPFixture(t)
	for _, delegated := range []bool{false, true} {
		srv := f.server(t, delegated)
		c := &OCSPChecker{URL: srv.URL + "/ocsp", Issuer: f.root.cert}
		if err := c.Check(context.Background(), f.good.cert); err != nil {
			t.Errorf("delegated=%v good: %v", delegated, err)
		}
		var re *RevokedError
		if err := c.Check(context.Background(), f.revoked.cert); !errors.As(err, &re) || re.Reason != 1 || re.Source != "ocsp" {
			t.Errorf("delegated=%v revoked: %v", delegated, err)
		}
		if err := c.Check(context.Background(), f.unknown.cert); !errors.Is(err, ErrUnknown) {
			t.Errorf("delegated=%v unknown: %v", delegated, err)
		}
	}
}

func TestOCSPCheckerFailsClosed(t *testing.T) {
	f := newOCSPFixture(t)
	impostor := newRootCA(t, "", "root", nil) // same name, another key
	impostor.cert.SubjectKeyId = f.root.cert.SubjectKeyId
	noEKU := f.root.leaf(t, "", "not-an-ocsp-signer")
	foreignDelegate := impostor.leafValid(t, "", "ocsp", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), x509.ExtKeyUsageOCSPSigning)

	// fixed serves a response signed by signer (with cert embedded, if any).
	fixed := func(signer crypto.Signer, cert *x509.Certificate) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			resp, err := ocsp.CreateResponse(f.root.cert, f.root.cert, ocsp.Response{
				Status: ocsp.Good, SerialNumber: f.good.cert.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(time.Hour),
				Certificate: cert, IssuerHash: crypto.SHA256,
			}, signer)
			if err != nil {
				t.Error(err)
			}
			w.Write(resp)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte{0x30, 0x03}) }))
	defer garbage.Close()
	tryLater := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(ocsp.TryLaterErrorResponse) }))
	defer tryLater.Close()
	real := f.server(t, false).URL + "/ocsp"

	tests := []struct {
		name string
		url  string
		now  time.Time
		want []error
	}{
		{"signed by another key", fixed(impostor.key, nil), time.Now(), []error{ErrBadSignature}},
		{"delegate without OCSPSigning", fixed(noEKU.key, noEKU.cert), time.Now(), []error{ErrBadSignature}},
		{"delegate of another CA", fixed(foreignDelegate.key, foreignDelegate.cert), time.Now(), []error{ErrBadSignature}},
		{"server down", down.URL, time.Now(), []error{ErrUnavailable}},
		{"garbage response", garbage.URL, time.Now(), []error{ErrUnavailable}},
		{"tryLater", tryLater.URL, time.Now(), []error{ErrUnavailable}},
		{"past nextUpdate", real, time.Now().Add(2 * time.Hour), []error{ErrUnavailable, ErrStale}},
		{"thisUpdate in the future", real, time.Now().Add(-time.Hour), []error{ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &OCSPChecker{URL: tt.url, Issuer: f.root.cert, Now: func() time.Time { return tt.now }}
			err := c.Check(context.Background(), f.good.cert)
			if err == nil {
				t.Fatal("Check accepted")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Check = %v, want %v", err, w)
				}
			}
		})
	}
}

func postOCSP(t *testing.T, url, method string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func TestOCSPResponderBadRequests(t *testing.T) {
	f := newOCSPFixture(t)
	srv := f.server(t, false)
	good, err := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := newRootCA(t, "", "other", nil)
	otherReq, _ := ocsp.CreateRequest(other.leaf(t, "", "x").cert, other.cert, nil)

	tests := []struct {
		name     string
		method   string
		path     string
		body     []byte
		status   int
		ocspBody []byte // expected exact OCSP error response, if any
	}{
		{"malformed body", http.MethodPost, "/ocsp", []byte("not der"), 200, ocsp.MalformedRequestErrorResponse},
		{"empty body", http.MethodPost, "/ocsp", nil, 200, ocsp.MalformedRequestErrorResponse},
		{"oversized body", http.MethodPost, "/ocsp", make([]byte, MaxOCSPRequestSize+1), http.StatusRequestEntityTooLarge, nil},
		{"wrong method", http.MethodPut, "/ocsp", good, http.StatusMethodNotAllowed, nil},
		{"GET bad base64", http.MethodGet, "/ocsp/!!!notbase64", nil, 200, ocsp.MalformedRequestErrorResponse},
		{"GET no request", http.MethodGet, "/ocsp", nil, 200, ocsp.MalformedRequestErrorResponse},
		{"GET oversized", http.MethodGet, "/ocsp/" + strings.Repeat("A", 3*MaxOCSPRequestSize), nil, http.StatusRequestURITooLong, nil},
		{"other issuer", http.MethodPost, "/ocsp", otherReq, 200, ocsp.UnauthorizedErrorResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postOCSP(t, srv.URL+tt.path, tt.method, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.ocspBody != nil && !bytes.Equal(body, tt.ocspBody) {
				t.Errorf("body %x, want %x", body, tt.ocspBody)
			}
		})
	}
	t.Run("store down", func(t *testing.T) {
		f.st.failGet = errDBGone
		defer func() { f.st.failGet = nil }()
		_, body := postOCSP(t, srv.URL+"/ocsp", http.MethodPost, good)
		if !bytes.Equal(body, ocsp.TryLaterErrorResponse) {
			t.Errorf("body %x, want tryLater", body)
		}
	})
}

func TestOCSPResponderGET(t *testing.T) {
	f := newOCSPFixture(t)
	srv := f.server(t, false)
	req, _ := ocsp.CreateRequest(f.revoked.cert, f.root.cert, nil)
	// Standard base64 with '/' and '+' kept, percent-encoded, or raw: all work.
	enc := base64.StdEncoding.EncodeToString(req)
	for name, path := range map[string]string{
		"raw":     "/ocsp/" + enc,
		"escaped": "/ocsp/" + strings.NewReplacer("/", "%2F", "+", "%2B", "=", "%3D").Replace(enc),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := postOCSP(t, srv.URL+path, http.MethodGet, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
				t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") || resp.Header.Get("Expires") == "" {
				t.Errorf("no caching headers: %v", resp.Header)
			}
			r, err := ocsp.ParseResponseForCert(body, f.revoked.cert, f.root.cert)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != ocsp.Revoked || r.RevocationReason != 1 {
				t.Errorf("status %d reason %d", r.Status, r.RevocationReason)
			}
		})
	}
}

func TestNewOCSPResponderRejectsBadConfig(t *testing.T) {
	f := newOCSPFixture(t)
	noEKU := f.root.leaf(t, "", "plain")
	tests := map[string]ResponderConfig{
		"no store":          {Issuer: f.root.cert, Signer: f.root.key},
		"wrong signer":      {Issuer: f.root.cert, Signer: f.good.key, Store: f.st},
		"delegate no EKU":   {Issuer: f.root.cert, Signer: noEKU.key, Certificate: noEKU.cert, Store: f.st},
		"delegate key swap": {Issuer: f.root.cert, Signer: f.root.key, Certificate: f.delegate.cert, Store: f.st},
		"no SKI":            {Issuer: &x509.Certificate{Subject: pkix.Name{CommonName: "x"}}, Signer: f.root.key, Store: f.st},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewOCSPResponder(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestOCSPResponderMultipleIssuers(t *testing.T) {
	f := newOCSPFixture(t)
	inter := f.root.intermediate(t, f.dir, "inter")
	leaf := inter.leaf(t, f.dir, "leaf")
	f.st.add(inter.cert, "ca")
	f.st.add(leaf.cert, "server")
	h, err := NewOCSPResponder(
		ResponderConfig{Issuer: inter.cert, Signer: inter.key, Store: f.st, CacheTTL: -1},
		ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: f.st, CacheTTL: -1},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(ServerConfig{OCSP: h}))
	defer srv.Close()
	ctx := context.Background()
	if err := (&OCSPChecker{URL: srv.URL + "/ocsp", Issuer: inter.cert}).Check(ctx, leaf.cert); err != nil {
		t.Errorf("leaf of intermediate: %v", err)
	}
	// The intermediate is revoked while the responder runs: the root's
	// responder says so, and the revoked CA answers nothing more about its
	// certificates (issue 8), rather than "good".
	f.st.revoke(t, inter.cert, 2, time.Now())
	var re *RevokedError
	if err := (&OCSPChecker{URL: srv.URL + "/ocsp", Issuer: f.root.cert}).Check(ctx, inter.cert); !errors.As(err, &re) || re.Reason != 2 {
		t.Errorf("intermediate: %v", err)
	}
	if err := (&OCSPChecker{URL: srv.URL + "/ocsp", Issuer: inter.cert}).Check(ctx, leaf.cert); !errors.Is(err, ErrUnknown) {
		t.Errorf("leaf of a revoked intermediate = %v, want the responder's refusal (ErrUnknown)", err)
	}
}
