package chat

import (
	"testing"

	"github.com/securechat/scca/internal/memnet"
)

// servePipes serves cfg on an in-memory listener until the end of t, for
// tests that run in a testing/synctest bubble; call it inside the bubble.
func servePipes(t testing.TB, cfg ServerConfig) (*memnet.Listener, *Server, *received) {
	t.Helper()
	ln := memnet.Listen()
	srv, rec := serveOn(t, cfg, ln)
	return ln, srv, rec
}
