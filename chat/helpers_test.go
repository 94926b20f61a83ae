package chat

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testnet"
	"github.com/securechat/scca/internal/testpki"
	"github.com/securechat/scca/internal/waitfor"
)

// trustOf is the ca.Trust of c alone.
func trustOf(c *testpki.CA) ca.Trust { return ca.NewTrust(c.Cert) }

// fakeInventory is the test PeerChecker, as the real inventory would answer.
type fakeInventory = testchat.Inventory

var _ PeerChecker = (*fakeInventory)(nil)

// world is the shared test world (one CA, a server and a client identity,
// the inventories each side checks against) with this package's configs.
type world struct{ *testchat.World }

func newWorld(t testing.TB) *world { return &world{testchat.NewWorld(t)} }

func (w *world) serverConfig() ServerConfig {
	return ServerConfig{Chain: w.ServerChain, Key: w.ServerKey, Roots: trustOf(w.CA).Roots, Intermediates: trustOf(w.CA).Intermediates, Checker: w.Inv,
		HandshakeTimeout: 2 * time.Second}
}

func (w *world) clientConfig() ClientConfig {
	return ClientConfig{Chain: w.ClientChain, Key: w.ClientKey, Roots: trustOf(w.CA).Roots, Intermediates: trustOf(w.CA).Intermediates, Checker: w.ClientInv,
		ServerName: "localhost", ClientID: "client123", HandshakeTimeout: 2 * time.Second}
}

// received collects what the server's OnMessage and OnReject saw.
type received = testchat.Received

// startServer serves cfg on a loopback listener until the test ends.
func startServer(t testing.TB, cfg ServerConfig) (string, *Server, *received) {
	t.Helper()
	ln := testnet.Loopback(t)
	srv, rec := serveOn(t, cfg, ln)
	return ln.Addr().String(), srv, rec
}

// serveOn serves cfg on ln until the test ends; what the server's
// OnMessage and OnReject see (unless cfg sets them) is in the result.
func serveOn(t testing.TB, cfg ServerConfig, ln net.Listener) (*Server, *received) {
	t.Helper()
	rec := &received{}
	rec.Hook(&cfg.OnMessage, &cfg.OnReject)
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testchat.Serve(t, srv, ln, ErrServerClosed)
	return srv, rec
}

// assertGoodClient checks the server still completes a handshake and
// delivers a message for a good client.
func assertGoodClient(t testing.TB, w *world, addr string, rec *received) {
	t.Helper()
	testchat.AssertGoodClient(t, func(ctx context.Context) (*Conn, error) { return Dial(ctx, addr, w.clientConfig()) }, rec)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, "the condition", waitfor.HangBound, cond)
}
