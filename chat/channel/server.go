package channel

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("chat: server closed")

// Handler serves an authenticated session, the way an http.Handler serves
// a request: the Server runs accept → handshake → ServeSession, each
// connection in its own goroutine, and closes the connection when
// ServeSession returns. ctx is the server's base context (Shutdown cancels
// it when it gives up waiting).
type Handler interface {
	ServeSession(ctx context.Context, s *Session)
}

// ServerConfig configures a Server. Zero durations and limits take the
// package defaults.
type ServerConfig struct {
	Config

	HandshakeTimeout time.Duration // whole handshake deadline
	MaxConns         int           // concurrent established sessions
	// Connections that have not finished the handshake have limits of
	// their own (docs/PROTOCOL.md §9): at most MaxHandshakes in all and
	// MaxHandshakesPerIP from one source address, and each must deliver
	// its complete client_hello within FirstFrameTimeout. When
	// MaxHandshakes is reached, a new connection displaces the oldest one
	// still waiting for its first frame (so silent and trickling sockets
	// cannot hold the server), or gets server_busy if there is none.
	MaxHandshakes      int
	MaxHandshakesPerIP int
	FirstFrameTimeout  time.Duration
	// StatusCheckTimeout bounds the Checker call during a handshake
	// (DefaultStatusCheckTimeout); when it passes, or the Checker reports
	// ErrCheckUnavailable, the client is told store_unavailable.
	StatusCheckTimeout time.Duration

	// Tickets configures session resumption (docs/PROTOCOL.md §13); the
	// zero value enables it with the defaults.
	Tickets TicketConfig

	// OnAccept is called when a client completed the handshake.
	OnAccept func(remote, cn string)
	// OnReject is called when a handshake fails; errors.Is(err,
	// ErrPeerCertificate) tells a certificate rejection from other failures.
	OnReject func(remote string, err error)

	// BaseContext is the parent of the server's base context, under which
	// the checker and every Handler run; nil: context.Background. Shutdown
	// cancels the base context when its own context expires, so a forced
	// shutdown does not wait for a hung store.
	BaseContext context.Context
}

// Server accepts secure channel connections and hands each authenticated
// session to its Handler.
type Server struct {
	cfg     ServerConfig
	id      identity
	handler Handler
	replay  *ReplayCache
	// tickets seals and opens resumption tickets; nil when disabled.
	tickets *ticketer

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	hs        handshakeLimits // guarded by mu
	sessions  int             // established sessions, guarded by mu
	closing   atomic.Bool
	wg        sync.WaitGroup

	// base is the context of every checker call and Handler; cancelBase
	// ends it when Shutdown gives up waiting, or has finished.
	base       context.Context
	cancelBase context.CancelFunc
}

// NewServer checks cfg and returns a Server that serves sessions with h.
func NewServer(cfg ServerConfig, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("channel: a Handler is required")
	}
	id, err := cfg.identity()
	if err != nil {
		return nil, err
	}
	cfg.HandshakeTimeout = orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	id.statusTimeout = min(orDefault(cfg.StatusCheckTimeout, DefaultStatusCheckTimeout), cfg.HandshakeTimeout)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.MaxHandshakesPerIP <= 0 {
		cfg.MaxHandshakesPerIP = DefaultMaxHandshakesPerIP
	}
	cfg.FirstFrameTimeout = min(orDefault(cfg.FirstFrameTimeout, DefaultFirstFrameTimeout), cfg.HandshakeTimeout)
	srv := &Server{
		cfg: cfg, id: id, handler: h,
		// Enough for every handshake the window can hold at a high rate.
		replay:    NewReplayCache(1 << 20),
		tickets:   newServerTicketer(cfg.Tickets, id.rand),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*serverConn]struct{}),
		hs:        newHandshakeLimits(),
	}
	parent := cfg.BaseContext
	if parent == nil {
		parent = context.Background()
	}
	srv.base, srv.cancelBase = context.WithCancel(parent)
	return srv, nil
}

// BaseContext is the server's base context: the parent of every checker
// call and Handler, cancelled by Shutdown when it gives up waiting or has
// finished.
func (s *Server) BaseContext() context.Context { return s.base }

// Closing reports whether Shutdown has begun.
func (s *Server) Closing() bool { return s.closing.Load() }

// MaxFrame is the frame limit the server announces (its config's, or the
// default).
func (s *Server) MaxFrame() int { return s.id.max }

// Stats is a snapshot of the server's connection accounting (§9).
type Stats struct {
	Conns      int // connections being served, in handshake or session
	Handshakes int // connections holding a handshake slot
	Waiting    int // of those, the ones whose client_hello has not arrived
	Sessions   int // established sessions
	// OldestWaiting is how long the oldest waiting connection has waited.
	OldestWaiting time.Duration
}

// Stats returns the current connection accounting.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Conns: len(s.conns), Handshakes: s.hs.total, Waiting: s.hs.waiting.Len(), Sessions: s.sessions}
	if f := s.hs.waiting.Front(); f != nil {
		st.OldestWaiting = time.Since(f.Value.(*serverConn).admitted)
	}
	return st
}

// Serve accepts connections on ln until Shutdown; it then returns
// ErrServerClosed. Each connection is served in its own goroutine.
func (s *Server) Serve(ln net.Listener) error {
	if !s.addListener(ln) {
		return ErrServerClosed
	}
	defer s.removeListener(ln)
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.track(conn)
	}
}

// addListener registers ln for Shutdown to close; false once closing.
func (s *Server) addListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) removeListener(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

// ServeConn serves one connection that was accepted elsewhere (for example
// a WebSocket wrapped as a net.Conn) in the background, under the same
// connection limit, timeouts and Shutdown as connections from Serve.
func (s *Server) ServeConn(conn net.Conn) { s.track(conn) }

// track starts serving conn, or refuses it with server_busy when the
// sessions or the handshake limits are full (admit, limits.go).
func (s *Server) track(conn net.Conn) {
	sc := &serverConn{srv: s, conn: conn, remote: conn.RemoteAddr().String()}
	sc.ip = sourceIP(conn.RemoteAddr())
	s.mu.Lock()
	if s.closing.Load() {
		// Shutdown may already be waiting on wg: adding to it now would
		// race with that Wait. The connection is simply not served.
		s.mu.Unlock()
		conn.Close()
		return
	}
	refusal := s.admitLocked(sc)
	if refusal == "" {
		s.conns[sc] = struct{}{}
	}
	s.wg.Add(1)
	s.mu.Unlock()
	if refusal != "" {
		go func() {
			defer s.wg.Done()
			s.id.logger.Warn("connection refused", "remote", sc.remote, "reason", refusal)
			sendError(conn, CodeBusy, PublicReason(CodeBusy))
			conn.Close()
		}()
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.untrack(sc)
		sc.serve()
	}()
}

func (s *Server) untrack(sc *serverConn) {
	s.mu.Lock()
	s.releaseHandshakeLocked(sc)
	if sc.session {
		s.sessions--
	}
	delete(s.conns, sc)
	s.mu.Unlock()
}

// Shutdown stops accepting, lets each session finish the record it is
// processing (the Handler marks it busy), wakes every idle session (its
// Handler then says close, see Session.EndReason) and waits for all
// connection goroutines to end. If ctx ends first, remaining connections
// are closed abruptly and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for sc := range s.conns {
		sc.interrupt()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancelBase()
		return nil
	case <-ctx.Done():
		// Storage and checker calls still running end now rather than
		// at their own timeouts.
		s.cancelBase()
		s.mu.Lock()
		for sc := range s.conns {
			sc.conn.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
