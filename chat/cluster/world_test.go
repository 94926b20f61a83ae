package cluster

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/chat"
	"github.com/securechat/scca/internal/testdb"
	"github.com/securechat/scca/internal/testpki"
	"github.com/securechat/scca/internal/waitfor"
	"github.com/securechat/scca/revocation"
)

// EnvNATSURL names the NATS server the cluster tests use (default
// nats://127.0.0.1:4222). Unreachable, the tests skip, or fail under
// CI=true: CI must never silently skip them.
const EnvNATSURL = "SCCA_TEST_NATS_URL"

func natsURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvNATSURL)
	if u == "" {
		u = nats.DefaultURL
	}
	nc, err := nats.Connect(u, nats.Timeout(2*time.Second))
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("NATS at %s unreachable and CI=true: the cluster tests must run in CI: %v", u, err)
		}
		tb.Skipf("NATS at %s unreachable (set %s): %v", u, EnvNATSURL, err)
	}
	nc.Close()
	return u
}

var serials atomic.Int64

// world is a CA, one server identity shared by every node (they stand
// behind one name), users in a real inventory, and a cluster prefix of its
// own so tests sharing a NATS server do not see each other.
type world struct {
	ca        *testpki.CA
	srvChain  []*x509.Certificate
	srvKey    crypto.Signer
	dbURL     string
	admin     *certstore.Store
	users     map[string]chat.ClientConfig
	natsURL   string
	prefix    string
	secret    []byte
	revPoll   time.Duration
	heartbeat time.Duration
}

func newWorld(tb testing.TB, dbURL string, names ...string) *world {
	tb.Helper()
	w := &world{dbURL: dbURL, users: map[string]chat.ClientConfig{}, natsURL: natsURL(tb),
		prefix: fmt.Sprintf("scca.test%x", serials.Add(1)+time.Now().UnixNano()), heartbeat: 200 * time.Millisecond}
	w.secret = make([]byte, 32)
	_, _ = rand.Read(w.secret)
	w.ca = testpki.NewCA(tb, "Cluster Test CA")
	w.srvChain, w.srvKey = w.issue(tb, "localhost", x509.ExtKeyUsageServerAuth)
	w.admin = openStore(tb, dbURL, true)
	for _, n := range names {
		chain, k := w.issue(tb, n, x509.ExtKeyUsageClientAuth)
		c := chain[0]
		if err := w.admin.Insert(context.Background(), certstore.Record{
			Serial: fmt.Sprintf("%x", c.SerialNumber), IssuerKeyID: hex.EncodeToString(c.AuthorityKeyId),
			Type: certstore.TypeClient, CN: n, NotBefore: c.NotBefore, NotAfter: c.NotAfter, DER: c.Raw,
			Status: certstore.StatusActive}); err != nil {
			tb.Fatal(err)
		}
		w.users[n] = chat.ClientConfig{Chain: chain, Key: k, Roots: ca.NewTrust(w.ca.Cert).Roots, Intermediates: ca.NewTrust(w.ca.Cert).Intermediates, Checker: okServer{},
			ServerName: "localhost", ClientID: n, HandshakeTimeout: 5 * time.Second, Tickets: &chat.MemoryTicketCache{}}
	}
	return w
}

// okServer accepts the server certificate (the client's own revocation
// check of the server is not what these tests are about).
type okServer struct{}

func (okServer) Check(context.Context, *x509.Certificate) error { return nil }

func (w *world) issue(tb testing.TB, cn string, eku x509.ExtKeyUsage) ([]*x509.Certificate, crypto.Signer) {
	return w.ca.Issue(tb, cn, testpki.LeafOpts{EKU: eku})
}

func openStore(tb testing.TB, url string, migrate bool) *certstore.Store {
	tb.Helper()
	st, err := certstore.Open(context.Background(), url, certstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if migrate {
		if err := st.Migrate(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

// node is one chat server of the cluster, as `scca chat server --broker`
// runs it: its own inventory handle and NATS connection.
type node struct {
	name    string
	addr    string // TCP
	wsURL   string // WebSocket
	srv     *chat.Server
	broker  *NATS
	conns   *connTracker
	stopped atomic.Bool
}

type nodeOpts struct {
	maxPending int
	wrap       func(chat.Broker) chat.Broker
	natsURL    string // default: the world's
	alone      bool   // no broker: a server on its own
}

func (w *world) startNode(tb testing.TB, name string, o nodeOpts) *node {
	tb.Helper()
	url := o.natsURL
	if url == "" {
		url = w.natsURL
	}
	b, err := Connect(Config{URL: url, Node: name, Prefix: w.prefix, MaxPending: o.maxPending})
	if err != nil {
		tb.Fatal(err)
	}
	var broker chat.Broker = b
	if o.wrap != nil {
		broker = o.wrap(b)
	}
	st := openStore(tb, w.dbURL, false)
	cfg := chat.ServerConfig{Chain: w.srvChain, Key: w.srvKey, Roots: ca.NewTrust(w.ca.Cert).Roots, Intermediates: ca.NewTrust(w.ca.Cert).Intermediates,
		Checker: &revocation.InventoryChecker{Store: st}, Mailbox: st, Revocations: st,
		RevocationPoll: orDur(w.revPoll, 500*time.Millisecond), MaxConns: 4096, SendQueue: 1 << 16,
		Tickets: chat.TicketConfig{Secret: w.secret, Spent: b.Spender(time.Hour)},
		// A live delivery on another server is "delivered" only once that
		// server confirms it within WakeTimeout (1 s by default, else
		// "queued"). Under -race with both cores busy the confirmation
		// (a NATS round trip and the other server's read of the queue)
		// can take longer, so 5 s here; it must stay below the client's
		// 10 s wait for its answer, or a server waiting for a recipient
		// still replaying its queue (who never confirms) outlasts the
		// client (a CI run saw both failures). No test waits for it.
		Cluster: chat.ClusterConfig{Broker: broker, Heartbeat: w.heartbeat, WakeTimeout: 5 * time.Second}}
	if o.alone {
		cfg.Tickets, cfg.Cluster = chat.TicketConfig{}, chat.ClusterConfig{}
	}
	srv, err := chat.NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	n := &node{name: name, srv: srv, broker: b, conns: &connTracker{conns: map[net.Conn]struct{}{}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	wsln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	n.addr, n.wsURL = ln.Addr().String(), "ws://"+wsln.Addr().String()+"/"
	done := make(chan error, 2)
	go func() { done <- srv.Serve(&trackingListener{Listener: ln, t: n.conns}) }()
	hs := &http.Server{Handler: srv.WebSocketHandler(chat.WebSocketOptions{})}
	go func() { _ = hs.Serve(&trackingListener{Listener: wsln, t: n.conns}) }()
	tb.Cleanup(func() {
		_ = hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, chat.ErrServerClosed) && !n.stopped.Load() {
			tb.Errorf("node %s: serve: %v", name, err)
		}
		b.Close()
	})
	return n
}

func orDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// kill ends the node as kill -9 would: connections cut without a close
// record, no goodbye to the cluster.
func (n *node) kill() {
	n.stopped.Store(true)
	n.broker.nc.Close()
	n.conns.closeAll()
}

type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	dead  bool
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dead = true
	for c := range t.conns {
		c.Close()
	}
}

type trackingListener struct {
	net.Listener
	t *connTracker
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	if l.t.dead {
		c.Close()
		return nil, net.ErrClosed
	}
	l.t.conns[c] = struct{}{}
	return c, nil
}

// dial connects user name to n over TCP, or WebSocket with ws.
func (w *world) dial(tb testing.TB, n *node, name string, ws bool) *chat.Conn {
	tb.Helper()
	c, err := w.tryDial(n, name, ws)
	if err != nil {
		tb.Fatalf("dial %s as %s: %v", n.name, name, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func (w *world) tryDial(n *node, name string, ws bool) (*chat.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ws {
		return chat.DialWebSocket(ctx, n.wsURL, w.users[name])
	}
	return chat.Dial(ctx, n.addr, w.users[name])
}

// receive waits up to 5 s for the next event on c.
func receive(tb testing.TB, c *chat.Conn) chat.Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := c.Receive(ctx)
	if err != nil {
		tb.Fatalf("receive: %v", err)
	}
	return ev
}

// receiveUntil skips events until one satisfies ok (presence noise).
func receiveUntil(tb testing.TB, c *chat.Conn, ok func(chat.Event) bool) chat.Event {
	tb.Helper()
	for {
		if ev := receive(tb, c); ok(ev) {
			return ev
		}
	}
}

// nothingWithin checks c receives no message (presence events aside) for d.
func nothingWithin(tb testing.TB, c *chat.Conn, d time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		ev, err := c.Receive(ctx)
		if err != nil {
			return
		}
		if ev.Kind == chat.EventMessage {
			tb.Fatalf("unexpected message %+v", ev)
		}
	}
}

// waitFor polls cond until it holds (30 s at most, a hang detector).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	waitfor.Condition(tb, what, waitfor.HangBound, cond)
}

// databases are the real inventories the tests run on.
func databases(t *testing.T) map[string]func(*testing.T) string {
	return map[string]func(*testing.T) string{
		"sqlite":   func(t *testing.T) string { return testdb.SQLite(t) },
		"mariadb":  func(t *testing.T) string { return testdb.MySQL(t, "scca_cluster") },
		"postgres": func(t *testing.T) string { return testdb.Postgres(t, "scca_cluster") },
	}
}

func asRemote(err error, re **chat.RemoteError) bool { return errors.As(err, re) }

func revocationOf(c *x509.Certificate) certstore.Revocation {
	return certstore.Revocation{IssuerKeyID: hex.EncodeToString(c.AuthorityKeyId), Serial: fmt.Sprintf("%x", c.SerialNumber),
		Reason: 1, Actor: "test"}
}
