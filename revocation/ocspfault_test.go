package revocation

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testdb"
)

// TestOCSPDatabaseOutage runs the responder on a real MariaDB and a real
// PostgreSQL inventory reached through a proxy. While the proxy black-holes
// the database, and after it refuses connections, OCSP answers tryLater
// within the lookup timeout (plus scheduling slack) and /crl keeps serving.
func TestOCSPDatabaseOutage(t *testing.T) {
	for _, driver := range testdb.Servers {
		t.Run(driver, func(t *testing.T) { testOCSPDatabaseOutage(t, driver) })
	}
}

func testOCSPDatabaseOutage(t *testing.T, driver string) {
	url := testdb.Server(t, driver, "scca_ocsp_outage")
	openStore(t, url) // migrates
	viaProxy, proxy := testdb.Proxied(t, url)
	st, err := certstore.Open(context.Background(), viaProxy, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	f := newOCSPFixture(t)
	if err := st.Insert(context.Background(), recordOf(f.good.cert, certstore.TypeServer)); err != nil {
		t.Fatal(err)
	}
	crlPath := filepath.Join(f.dir, "crl.der")
	if _, err := PublishCRL(context.Background(), f.st, crlConfig(f.root), filepath.Join(f.dir, "crl.pem"), crlPath); err != nil {
		t.Fatal(err)
	}
	const timeout = 500 * time.Millisecond
	h, err := NewOCSPResponder(ResponderConfig{Issuer: f.root.cert, Signer: f.delegate.key, Certificate: f.delegate.cert,
		Store: st, LookupTimeout: timeout, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(ServerConfig{OCSP: h, CRLPath: crlPath}))
	defer srv.Close()
	req, _ := ocsp.CreateRequest(f.good.cert, f.root.cert, nil)

	_, body := postOCSP(t, srv.URL+"/ocsp", http.MethodPost, req)
	if r, err := ocsp.ParseResponseForCert(body, f.good.cert, f.root.cert); err != nil || r.Status != ocsp.Good {
		t.Fatalf("before the outage: %v", err)
	}
	for _, outage := range []struct {
		name  string
		start func()
	}{
		{"black-holed", proxy.Swallow},
		{"refused", proxy.Cut},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.start()
			for range 3 {
				start := time.Now()
				_, body := postOCSP(t, srv.URL+"/ocsp", http.MethodPost, req)
				elapsed := time.Since(start)
				if !bytes.Equal(body, ocsp.TryLaterErrorResponse) {
					t.Fatalf("body %x, want tryLater", body)
				}
				if elapsed > timeout+3*time.Second {
					t.Errorf("tryLater after %v, want within %v", elapsed, timeout)
				}
				t.Logf("tryLater after %v", elapsed.Round(time.Millisecond))
				if resp, _ := postOCSP(t, srv.URL+"/crl", http.MethodGet, nil); resp.StatusCode != http.StatusOK {
					t.Errorf("GET /crl during the outage: %d", resp.StatusCode)
				}
			}
		})
	}
}
