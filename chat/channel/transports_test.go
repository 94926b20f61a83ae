package channel

import (
	"context"
	"net"
	"testing"

	"github.com/coder/websocket"
)

// transport is one way of reaching a server under test; tests that must
// hold on every transport range over bothTransports.
type transport struct {
	name string
	// raw opens a connection that has made no handshake yet; it is closed
	// at the end of t.
	raw func(t *testing.T) net.Conn
	// dial is the test client's way in (Dial, DialWebSocket).
	dial func(ctx context.Context, cfg ClientConfig) (*testConn, error)
}

// bothTransports reaches a server at addr over TCP and at url (ws://) over
// WebSocket.
func bothTransports(addr, url string) []transport {
	return []transport{
		{"tcp", func(t *testing.T) net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}, func(ctx context.Context, cfg ClientConfig) (*testConn, error) { return dialConn(ctx, addr, cfg) }},
		{"websocket", func(t *testing.T) net.Conn { return dialWSConn(t, url) },
			func(ctx context.Context, cfg ClientConfig) (*testConn, error) {
				return connOf(DialWebSocket(ctx, url, &cfg))
			}},
	}
}

// dialWSConn is DialWebSocket's connection without the handshake; it is
// closed at the end of t.
func dialWSConn(t *testing.T, url string) net.Conn {
	t.Helper()
	ctx := context.Background()
	wc, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	wc.SetReadLimit(wsReadLimit(DefaultMaxFrame))
	c := newWSConn(websocket.NetConn(ctx, wc, websocket.MessageBinary))
	t.Cleanup(func() { c.Close() })
	return c
}
