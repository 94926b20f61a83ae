package chat

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/securechat/scca/internal/testchat"
)

// startWSServer serves cfg over TCP and WebSocket with one Server and
// returns the TCP address and the ws:// URL.
func startWSServer(t *testing.T, cfg ServerConfig, opts WebSocketOptions) (string, string, *received) {
	t.Helper()
	addr, url, _, rec := startWSServerWith(t, cfg, opts)
	return addr, url, rec
}

// startWSServerWith is startWSServer that also returns the Server.
func startWSServerWith(t *testing.T, cfg ServerConfig, opts WebSocketOptions) (string, string, *Server, *received) {
	t.Helper()
	return testchat.AlsoWebSocket(t, ErrServerClosed, func() (string, *Server, *received) { return startServer(t, cfg) },
		func(srv *Server, ln net.Listener) error { return srv.ServeWebSocket(ln, opts) })
}

func TestWebSocketAndTCPShareOneServer(t *testing.T) {
	w := newWorld(t)
	addr, url, rec := startWSServer(t, w.serverConfig(), WebSocketOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cache := &MemoryTicketCache{}
	cfg := w.clientConfig()
	cfg.Tickets = cache
	tcp, err := Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatalf("tcp: %v", err)
	}
	defer tcp.Close()
	ws, err := DialWebSocket(ctx, url, cfg)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer ws.Close()
	// The ticket from the TCP session resumed over WebSocket: one server.
	if !ws.Resumed() {
		t.Fatal("websocket session did not resume the TCP session's ticket")
	}
	if err := tcp.Send(ctx, "over tcp"); err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(ctx, "over websocket"); err != nil {
		t.Fatal(err)
	}
	big := string(bytes.Repeat([]byte("x"), 100<<10)) // many WebSocket frames' worth
	if err := ws.Send(ctx, big); err != nil {
		t.Fatalf("large message over websocket: %v", err)
	}
	msgs := rec.Messages()
	if len(msgs) != 3 || msgs[0] != "client123: over tcp" || msgs[1] != "client123: over websocket" || len(msgs[2]) != len("client123: ")+len(big) {
		t.Fatalf("server saw %d messages, first %q", len(msgs), msgs[:min(2, len(msgs))])
	}
	// A full handshake over WebSocket too.
	cfg.Tickets = nil
	full, err := DialWebSocket(ctx, url, cfg)
	if err != nil {
		t.Fatalf("full websocket handshake: %v", err)
	}
	defer full.Close()
	if full.Resumed() || full.PeerCN() != "localhost" {
		t.Fatalf("resumed %v, peer %q", full.Resumed(), full.PeerCN())
	}
}

func TestWebSocketRejectsLikeTCP(t *testing.T) {
	w := newWorld(t)
	_, url, _ := startWSServer(t, w.serverConfig(), WebSocketOptions{})
	w.Inv.Revoke(w.ClientChain[0])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialWebSocket(ctx, url, w.clientConfig())
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeCertificateRejected {
		if err == nil {
			c.Close()
		}
		t.Fatalf("revoked client over websocket: %v, want certificate_rejected", err)
	}
}

func TestWebSocketCrossOrigin(t *testing.T) {
	w := newWorld(t)
	_, url, _ := startWSServer(t, w.serverConfig(), WebSocketOptions{})
	_, allowURL, _ := startWSServer(t, w.serverConfig(), WebSocketOptions{OriginPatterns: []string{"app.example"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dial := func(url, origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{}
		h.Set("Origin", origin)
		return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	}
	for _, u := range []string{url, allowURL} {
		c, resp, err := dial(u, "https://evil.example")
		if err == nil {
			c.CloseNow()
			t.Fatalf("%s: cross-origin upgrade accepted", u)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: cross-origin: %v, want 403", u, err)
		}
	}
	c, _, err := dial(allowURL, "https://app.example")
	if err != nil {
		t.Fatalf("configured origin refused: %v", err)
	}
	c.CloseNow()
	c, _, err = dial(url, "https://app.example")
	if err == nil {
		c.CloseNow()
		t.Fatal("origin allowed on a server not configured for it")
	}
}
