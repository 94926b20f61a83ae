package channel

import (
	"log/slog"
	"net"
	"net/http"
)

// ServeHandler serves HTTP on ln with h until Shutdown, then returns
// ErrServerClosed: ServeWebSocket with a handler of the caller's, for
// example one that serves the browser client (package web) and passes
// WebSocket upgrades to WebSocketHandler. Upgraded connections belong to
// the server from ServeConn on, like every other session.
func (s *Server) ServeHandler(ln net.Listener, h http.Handler) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{} // Shutdown closes it, ending hs.Serve
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	hs := &http.Server{
		Handler: h,
		// An upgrade request is a stranger's first frame too.
		ReadHeaderTimeout: s.cfg.FirstFrameTimeout,
		ErrorLog:          slog.NewLogLogger(s.id.logger.Handler(), slog.LevelWarn),
	}
	err := hs.Serve(ln)
	hs.Close() // requests not yet upgraded; upgraded ones belong to s
	if s.closing.Load() {
		return ErrServerClosed
	}
	return err
}
