package enroll

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testdb"
)

// clock is a settable clock shared by a test and the server.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// testCA is a CA, its inventory and a running API server.
type testCA struct {
	a       *ca.Authority
	st      *certstore.Store
	srv     *Server
	url     string
	clock   *clock
	metrics *Metrics
}

type caOptions struct {
	dbURL        string
	intermediate bool
	rateLimit    RateLimit
	validity     time.Duration
}

func newBenchCA(tb testing.TB, dbURL string) *testCA {
	return newTestCA(tb, caOptions{dbURL: dbURL, rateLimit: RateLimit{Burst: 1 << 20}})
}

func newTestCA(t testing.TB, o caOptions) *testCA {
	t.Helper()
	ctx := context.Background()
	if o.dbURL == "" {
		o.dbURL = testdb.SQLite(t)
	}
	st, err := certstore.Open(ctx, o.dbURL, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, err := ca.Init(ctx, ca.InitRequest{Dir: dir, Store: st, Intermediate: o.intermediate, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	srv, err := NewServer(ServerConfig{
		Authority: a, Store: st, Metrics: m, Names: []string{"127.0.0.1", "localhost"},
		RateLimit: o.rateLimit, Validity: o.validity, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, TLSConfig: srv.TLSConfig(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(tls.NewListener(ln, hs.TLSConfig))
	t.Cleanup(func() { hs.Close() })
	return &testCA{a: a, st: st, srv: srv, url: "https://" + ln.Addr().String(), clock: clk, metrics: m}
}

// token mints a client token for cn.
func (c *testCA) token(t testing.TB, cn string, ttl time.Duration) string {
	t.Helper()
	tok, _, err := NewToken(context.Background(), c.st, TokenRequest{CN: cn, Profile: ca.ProfileClient, TTL: ttl, Actor: "test", Now: c.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client is a pinned enrollment client.
func (c *testCA) client() *Client {
	return &Client{URL: c.url, Fingerprint: Fingerprint(c.a.Root)}
}
