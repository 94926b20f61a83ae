package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/securechat/scca/certstore"
)

// TestOCSPSeveralCertificatesWithOpenSSL asks openssl about three
// certificates in one request, with its default nonce: each gets its own
// status (RFC 6960 §4.2.2.3), the nonce is echoed (no "WARNING: no nonce"),
// and the response verifies, whether the CA or a delegate signs.
func TestOCSPSeveralCertificatesWithOpenSSL(t *testing.T) {
	f := newOCSPFixture(t)
	for _, delegated := range []bool{false, true} {
		srv := f.server(t, delegated)
		out := mustOpenSSL(t, "ocsp", "-issuer", f.root.path,
			"-cert", f.good.path, "-cert", f.revoked.path, "-cert", f.unknown.path,
			"-url", srv.URL+"/ocsp", "-CAfile", f.root.path)
		for _, w := range []string{
			f.good.path + ": good", f.revoked.path + ": revoked", f.unknown.path + ": unknown",
			"Response verify OK",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("delegated=%v: openssl output lacks %q:\n%s", delegated, w, out)
			}
		}
		for _, bad := range []string{"No Status found", "WARNING: no nonce", "WARNING: nonce verify error"} {
			if strings.Contains(out, bad) {
				t.Errorf("delegated=%v: openssl says %q:\n%s", delegated, bad, out)
			}
		}
	}
}

// ocspRequestDER builds a request for certs of issuer with x/crypto/ocsp's
// encoding of one entry, repeated, plus optional request extensions.
func ocspRequestDER(t *testing.T, issuer *x509.Certificate, exts []pkix.Extension, certs ...*x509.Certificate) []byte {
	t.Helper()
	var req ocspRequestASN1
	for _, c := range certs {
		one, err := ocsp.CreateRequest(c, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		var parsed ocspRequestASN1
		if _, err := asn1.Unmarshal(one, &parsed); err != nil {
			t.Fatal(err)
		}
		req.TBSRequest.RequestList = append(req.TBSRequest.RequestList, parsed.TBSRequest.RequestList...)
	}
	req.TBSRequest.Extensions = exts
	der, err := asn1.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func nonceExt(t *testing.T, n []byte) pkix.Extension {
	v, err := asn1.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidOCSPNonce, Value: v}
}

// responseNonce returns the nonce of a DER OCSP response's
// responseExtensions (x/crypto/ocsp does not expose them).
func responseNonce(t *testing.T, der []byte) []byte {
	t.Helper()
	var resp responseASN1
	var basic basicResponseASN1
	var data responseDataASN1
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(resp.Response.Response, &basic); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(basic.TBSResponseData.FullBytes, &data); err != nil {
		t.Fatal(err)
	}
	var nonce []byte
	for _, e := range data.Extensions {
		if e.Id.Equal(oidOCSPNonce) {
			if _, err := asn1.Unmarshal(e.Value, &nonce); err != nil || e.Critical {
				t.Errorf("nonce extension %x critical=%v", e.Value, e.Critical)
			}
		}
	}
	return nonce
}

// TestOCSPResponseShape checks the response in Go: a SingleResponse per
// certificate, producedAt not before thisUpdate under a clock that is not
// on a minute boundary, the nonce echoed, and bad nonces or too many
// certificates refused as malformed.
func TestOCSPResponseShape(t *testing.T) {
	f := newOCSPFixture(t)
	now := time.Now().Truncate(time.Minute).Add(59*time.Second + 700*time.Millisecond)
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.delegate.key, Certificate: f.delegate.cert,
		Store: f.st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(ServerConfig{OCSP: h}))
	defer srv.Close()
	other := newRootCA(t, "", "other", nil)
	foreign := other.leaf(t, "", "foreign")

	nonce := []byte("0123456789abcdef")
	_, body := postOCSP(t, srv.URL+"/ocsp", http.MethodPost,
		ocspRequestDER(t, f.root.cert, []pkix.Extension{nonceExt(t, nonce)}, f.good.cert, f.revoked.cert, f.unknown.cert))
	want := map[*x509.Certificate]int{f.good.cert: ocsp.Good, f.revoked.cert: ocsp.Revoked, f.unknown.cert: ocsp.Unknown}
	for c, status := range want {
		r, err := ocsp.ParseResponseForCert(body, c, f.root.cert)
		if err != nil {
			t.Fatalf("%s: %v", c.Subject.CommonName, err)
		}
		if r.Status != status {
			t.Errorf("%s: status %d, want %d", c.Subject.CommonName, r.Status, status)
		}
		if r.ProducedAt.Before(r.ThisUpdate) {
			t.Errorf("producedAt %v precedes thisUpdate %v", r.ProducedAt, r.ThisUpdate)
		}
		if !r.ThisUpdate.Equal(now.Truncate(time.Second)) {
			t.Errorf("thisUpdate %v, want %v", r.ThisUpdate, now.Truncate(time.Second))
		}
		got := responseNonce(t, body)
		if !bytes.Equal(got, nonce) {
			t.Errorf("nonce %q, want %q", got, nonce)
		}
	}

	t.Run("certificate of another issuer is unknown", func(t *testing.T) {
		reqs := ocspRequestDER(t, f.root.cert, nil, f.good.cert)
		var parsed ocspRequestASN1
		asn1.Unmarshal(reqs, &parsed)
		foreignReq := ocspRequestDER(t, other.cert, nil, foreign.cert)
		var fp ocspRequestASN1
		asn1.Unmarshal(foreignReq, &fp)
		parsed.TBSRequest.RequestList = append(parsed.TBSRequest.RequestList, fp.TBSRequest.RequestList...)
		der, _ := asn1.Marshal(parsed)
		_, body := postOCSP(t, srv.URL+"/ocsp", http.MethodPost, der)
		if r, err := ocsp.ParseResponseForCert(body, f.good.cert, f.root.cert); err != nil || r.Status != ocsp.Good {
			t.Fatalf("good: %v", err)
		}
		if r, err := ocsp.ParseResponseForCert(body, foreign.cert, f.root.cert); err != nil || r.Status != ocsp.Unknown {
			t.Fatalf("foreign: %v %+v", err, r)
		}
	})

	many := make([]*x509.Certificate, MaxOCSPRequestCerts+1)
	for i := range many {
		many[i] = f.good.cert
	}
	for name, der := range map[string][]byte{
		"empty nonce":               ocspRequestDER(t, f.root.cert, []pkix.Extension{nonceExt(t, nil)}, f.good.cert),
		"33-byte nonce":             ocspRequestDER(t, f.root.cert, []pkix.Extension{nonceExt(t, make([]byte, 33))}, f.good.cert),
		"nonce not an OCTET STRING": ocspRequestDER(t, f.root.cert, []pkix.Extension{{Id: oidOCSPNonce, Value: []byte{2, 1, 1}}}, f.good.cert),
		"too many certificates":     ocspRequestDER(t, f.root.cert, nil, many...),
		"trailing data":             append(ocspRequestDER(t, f.root.cert, nil, f.good.cert), 0),
	} {
		t.Run(name, func(t *testing.T) {
			_, body := postOCSP(t, srv.URL+"/ocsp", http.MethodPost, der)
			if !bytes.Equal(body, ocsp.MalformedRequestErrorResponse) {
				t.Errorf("body %x, want malformedRequest", body)
			}
		})
	}
}

// hangingStore blocks every lookup until released, ignoring the context,
// like a driver stuck reading a black-holed connection.
type hangingStore struct {
	*fakeStore
	release chan struct{}
	entered chan struct{}
}

func (h *hangingStore) Get(ctx context.Context, issuerKeyID, serial string) (certstore.Record, error) {
	h.entered <- struct{}{}
	<-h.release
	return h.fakeStore.Get(ctx, issuerKeyID, serial)
}

// TestOCSPTryLaterWhenInventoryHangs checks that a lookup that never
// returns yields tryLater exactly when the lookup timeout runs out, while
// /crl keeps serving, and that the responder answers normally once the
// store returns. The handler is called in process, in a synctest bubble:
// the timeout is measured on the fake clock.
func TestOCSPTryLaterWhenInventoryHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newOCSPFixture(t)
		hs := &hangingStore{fakeStore: f.st, release: make(chan struct{}), entered: make(chan struct{}, 16)}
		var releaseOnce sync.Once
		release := func() { releaseOnce.Do(func() { close(hs.release) }) }
		t.Cleanup(release)
		const timeout = 200 * time.Millisecond
		h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.root.key, Store: hs, LookupTimeout: timeout, CacheTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		crlPath := filepath.Join(f.dir, "crl.der")
		if _, err := PublishCRL(context.Background(), f.st, crlConfig(f.root), filepath.Join(f.dir, "crl.pem"), crlPath); err != nil {
			t.Fatal(err)
		}
		handler := NewHTTPHandler(ServerConfig{OCSP: h, CRLPath: crlPath})
		serve := func(method, path string, body []byte) *httptest.ResponseRecorder {
			r := httptest.NewRequest(method, path, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/ocsp-request")
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, r)
			return rec
		}
		req, _ := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)

		start := time.Now()
		body := serve(http.MethodPost, "/ocsp", req).Body.Bytes()
		if !bytes.Equal(body, ocsp.TryLaterErrorResponse) {
			t.Fatalf("body %x, want tryLater", body)
		}
		if elapsed := time.Since(start); elapsed != timeout {
			t.Errorf("tryLater after %v, want %v", elapsed, timeout)
		}
		<-hs.entered
		if rec := serve(http.MethodGet, "/crl", nil); rec.Code != http.StatusOK {
			t.Errorf("GET /crl during the outage: %d", rec.Code)
		}
		release()
		body = serve(http.MethodPost, "/ocsp", req).Body.Bytes()
		if r, err := ocsp.ParseResponseForCert(body, f.good.cert, f.root.cert); err != nil || r.Status != ocsp.Good {
			t.Fatalf("after the outage: %v", err)
		}
	})
}

// swappingDelegate is a DelegateSource whose certificate a test replaces.
type swappingDelegate struct {
	mu   sync.Mutex
	cert *x509.Certificate
	key  crypto.Signer
}

func (s *swappingDelegate) Delegate(context.Context, time.Time) (*x509.Certificate, crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert, s.key, nil
}

// TestOCSPDelegateSource checks that a renewed delegate signs the next
// response and that an expired or foreign one is never used.
func TestOCSPDelegateSource(t *testing.T) {
	f := newOCSPFixture(t)
	src := &swappingDelegate{cert: f.delegate.cert, key: f.delegate.key}
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Delegate: src, Store: f.st, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(ServerConfig{OCSP: h}))
	defer srv.Close()
	req, _ := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)
	signedBy := func() (*ocsp.Response, []byte) {
		_, body := postOCSP(t, srv.URL+"/ocsp", http.MethodPost, req)
		r, _ := ocsp.ParseResponseForCert(body, f.good.cert, f.root.cert)
		return r, body
	}
	if r, _ := signedBy(); r == nil || !r.Certificate.Equal(f.delegate.cert) {
		t.Fatal("not signed by the delegate")
	}
	now := time.Now()
	renewed := f.root.leafValid(t, "", "ocsp2", now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageOCSPSigning)
	src.mu.Lock()
	src.cert, src.key = renewed.cert, renewed.key
	src.mu.Unlock()
	if r, _ := signedBy(); r == nil || !r.Certificate.Equal(renewed.cert) {
		t.Fatal("renewed delegate not used")
	}
	expired := f.root.leafValid(t, "", "ocsp3", now.Add(-2*time.Hour), now.Add(-time.Hour), x509.ExtKeyUsageOCSPSigning)
	foreign := newRootCA(t, "", "x", nil).leafValid(t, "", "ocsp4", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageOCSPSigning)
	for name, d := range map[string]*testCA{"expired": expired, "foreign": foreign, "no EKU": f.good} {
		src.mu.Lock()
		src.cert, src.key = d.cert, d.key
		src.mu.Unlock()
		if _, body := signedBy(); !bytes.Equal(body, ocsp.InternalErrorErrorResponse) {
			t.Errorf("%s delegate: body %x, want internalError", name, body)
		}
	}
}

// TestCACertDER checks /ca.der, the AIA caIssuers target: one DER
// certificate (RFC 5280 §4.2.2.1) as application/pkix-cert.
func TestCACertDER(t *testing.T) {
	f := newOCSPFixture(t)
	srv := httptest.NewServer(NewHTTPHandler(ServerConfig{CACertDER: f.root.cert.Raw}))
	defer srv.Close()
	resp, body := postOCSP(t, srv.URL+"/ca.der", http.MethodGet, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pkix-cert" {
		t.Fatalf("GET /ca.der: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if c, err := x509.ParseCertificate(body); err != nil || !c.Equal(f.root.cert) {
		t.Errorf("not the CA certificate in DER: %v", err)
	}
	if resp, _ := postOCSP(t, srv.URL+"/ca.der", http.MethodPost, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ca.der: %d", resp.StatusCode)
	}
}
