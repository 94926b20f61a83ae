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
	done := make(chan error, 1)
	// Registered first, so it runs after startServer's Shutdown.
	t.Cleanup(func() {
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("ServeWebSocket returned %v, want ErrServerClosed", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("ServeWebSocket did not return after Shutdown")
		}
	})
	addr, srv, rec := startServer(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- srv.ServeWebSocket(ln, opts) }()
	return addr, "ws://" + ln.Addr().String() + "/chat", srv, rec
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
	msgs := rec.messages()
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
	w.inv.revoke(w.clientChain[0])
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

func TestWebSocketOversizedMessageRefused(t *testing.T) {
	w := newWorld(t)
	scfg := w.serverConfig()
	scfg.MaxFrame = minMaxFrame // read limit: one handshake frame and a bit
	_, url, rec := startWSServer(t, scfg, WebSocketOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.Run("message above the read limit", func(t *testing.T) {
		// One WebSocket message: a valid client_hello padded to the largest
		// handshake frame, then a second frame that runs past the limit.
		// Our framing never needs more than one frame at a time, so only
		// the WebSocket read limit can stop this message.
		hello := helloFrame(t, w.clientConfig())[frameHeaderLen:]
		pad := bytes.Repeat([]byte{' '}, MaxHandshakeFrame-len(hello))
		hello = append(append(bytes.Clone(hello[:len(hello)-1]), pad...), '}')
		msg := appendFrame(nil, hello)
		msg = append(msg, appendFrame(nil, make([]byte, 2000))...)
		if int64(len(msg)) <= wsReadLimit(minMaxFrame) {
			t.Fatalf("test message of %d bytes is within the limit", len(msg))
		}
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		_, flight, err := c.Read(ctx) // the hello itself was good
		if err != nil || !bytes.Contains(flight, []byte(`"status":"ok"`)) {
			t.Fatalf("server flight %.80q: %v", flight, err)
		}
		_, _, err = c.Read(ctx)
		if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
			t.Fatalf("after the oversized message: %v (status %d), want %d", err, got, websocket.StatusMessageTooBig)
		}
	})
	t.Run("frame header above the handshake limit", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		hdr := appendFrame(nil, make([]byte, MaxHandshakeFrame+1))[:frameHeaderLen]
		if err := c.Write(ctx, websocket.MessageBinary, hdr); err != nil {
			t.Fatal(err)
		}
		_, reply, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no rejection frame: %v", err)
		}
		var sh serverHello
		if err := decodeFrame(reply[frameHeaderLen:], typeServerHello, &sh); err != nil || !sh.hasError || sh.errBody.Code != CodeProtocol {
			t.Fatalf("reply %q (%v), want a protocol_error rejection", reply, err)
		}
	})
	if len(rec.rejections()) == 0 {
		t.Fatal("server reported no rejected handshake")
	}
	assertGoodClientWS(t, w, url)
}

func assertGoodClientWS(t *testing.T, w *world, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialWebSocket(ctx, url, w.clientConfig())
	if err != nil {
		t.Fatalf("good websocket client: %v", err)
	}
	defer c.Close()
	if err := c.Send(ctx, "still here"); err != nil {
		t.Fatal(err)
	}
}
