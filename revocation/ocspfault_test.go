package revocation

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/crypto/ocsp"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testdb"
)

// holeProxy forwards TCP connections to a database until blackHole: from
// then on it accepts connections and reads what they send but forwards
// nothing and answers nothing, in either direction, as a database host
// behind a dropped route would. refuse closes the listener and every
// connection instead, as a stopped server would.
type holeProxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	hole  bool
	conns []net.Conn
}

func startHoleProxy(t *testing.T, target string) *holeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holeProxy{target: target, ln: ln}
	t.Cleanup(p.refuse)
	go p.serve()
	return p
}

func (p *holeProxy) addr() string { return p.ln.Addr().String() }

func (p *holeProxy) blackHole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hole = true
}

func (p *holeProxy) refuse() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *holeProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *holeProxy) holed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hole
}

func (p *holeProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		if p.holed() {
			go io.Copy(io.Discard, c)
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(up)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst until the black hole opens, then swallows src.
func (p *holeProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		if p.holed() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestOCSPDatabaseOutageMySQL runs the responder on a real MariaDB
// inventory reached through a proxy. While the proxy black-holes the
// database, and after it refuses connections, OCSP answers tryLater within
// the lookup timeout (plus scheduling slack) and /crl keeps serving.
func TestOCSPDatabaseOutageMySQL(t *testing.T) {
	dsn := testdb.MySQL(t, "scca_ocsp_outage")
	openStore(t, dsn) // migrates
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startHoleProxy(t, cfg.Addr)
	cfg.Addr = proxy.addr()
	st, err := certstore.Open(context.Background(), cfg.FormatDSN(), certstore.Options{})
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
		{"black-holed", proxy.blackHole},
		{"refused", proxy.refuse},
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
