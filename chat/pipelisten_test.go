package chat

import (
	"testing"

	"github.com/securechat/scca/internal/testnet"
)

// servePipes serves cfg on an in-memory listener until the end of t, for
// tests that run in a testing/synctest bubble; call it inside the bubble.
func servePipes(t testing.TB, cfg ServerConfig) (*testnet.Listener, *Server, *received) {
	t.Helper()
	ln := testnet.Listen()
	srv, rec := serveOn(t, cfg, ln)
	return ln, srv, rec
}
