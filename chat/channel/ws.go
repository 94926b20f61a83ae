package channel

import (
	"context"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// WebSocket transport (docs/PROTOCOL.md §14): the same frames, carried as a
// byte stream in binary WebSocket messages. Each accepted WebSocket is
// served by the same Server as TCP connections, so both kinds of client
// share everything the server holds.

// WebSocketOptions configures Server.WebSocketHandler.
type WebSocketOptions struct {
	// OriginPatterns are the browser origins allowed besides the server's
	// own host (host patterns as in path.Match, e.g. "chat.example.com" or
	// "*.example.com"). Empty: every cross-origin browser request is
	// refused. Requests without an Origin header (non-browser clients)
	// carry no ambient credentials and are always accepted.
	OriginPatterns []string
}

// wsReadLimit is the largest WebSocket message a peer may send: one frame
// of the largest size we accept before or after the handshake, plus a
// key_update record that writeRecord may send in the same Write. Without
// it a peer could make the library buffer an arbitrarily large message
// before our own frame limit sees a byte.
func wsReadLimit(maxFrame int) int64 {
	return int64(max(maxFrame, MaxHandshakeFrame)) + 2*FrameHeaderLen + 256
}

// WebSocketHandler returns an http.Handler that upgrades each request to a
// WebSocket and serves it with ServeConn. After Shutdown it answers 503.
func (s *Server) WebSocketHandler(opts WebSocketOptions) http.Handler {
	accept := &websocket.AcceptOptions{OriginPatterns: opts.OriginPatterns}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted in wg like a connection, so Shutdown waits for a handler
		// caught between the upgrade and ServeConn.
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			http.Error(w, "server shutting down", http.StatusServiceUnavailable)
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		wc, err := websocket.Accept(w, r, accept) // refuses a foreign Origin with 403
		if err != nil {
			s.id.logger.Warn("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
			return
		}
		// The connection outlives this handler: its lifetime is the
		// session's, not the request's.
		conn := websocket.NetConn(context.WithoutCancel(r.Context()), wc, websocket.MessageBinary)
		wc.SetReadLimit(wsReadLimit(s.id.max)) // after NetConn, which lifts the limit
		// TCP's read deadlines: waking a session must not close it
		// before it says close (wsconn.go).
		s.ServeConn(newWSConn(conn))
	})
}

// ServeWebSocket serves WebSocket clients on ln (plain HTTP; put TLS in
// front, or pass a tls.Listener, for wss://) until Shutdown, then returns
// ErrServerClosed. Any request path is accepted.
func (s *Server) ServeWebSocket(ln net.Listener, opts WebSocketOptions) error {
	return s.ServeHandler(ln, s.WebSocketHandler(opts))
}
