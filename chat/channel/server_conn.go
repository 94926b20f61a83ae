package channel

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Connection states, for Shutdown's decision.
const (
	stateHandshake = iota
	stateBusy      // processing a received record: let it finish
	stateIdle      // waiting for the next record: interrupt now
)

// serverConn is one accepted connection: its handshake accounting and,
// once a session, the state Shutdown and Session.Kill act on.
type serverConn struct {
	srv    *Server
	conn   net.Conn
	remote string
	ip     string // source address, for the per-IP handshake limit

	// Handshake accounting (limits.go), guarded by srv.mu.
	hsHeld   bool          // holds a handshake slot
	admitted time.Time     // when it took the slot
	waiting  *list.Element // in srv.hs.waiting until the first frame arrived
	session  bool          // counted in srv.sessions

	mu     sync.Mutex
	state  int
	killed string // "code: reason" once the session must end (revoked, too slow)
}

// serve runs one connection: the handshake under HandshakeTimeout, then
// the Handler.
func (sc *serverConn) serve() {
	s := sc.srv
	defer sc.conn.Close()
	log := s.id.logger.With("remote", sc.remote)
	// Network deadlines use the real clock: Now may be pinned by tests.
	// The whole handshake has HandshakeTimeout; its first frame, the
	// complete client_hello, must arrive within FirstFrameTimeout (§3).
	start := time.Now()
	deadline := start.Add(s.cfg.HandshakeTimeout)
	_ = sc.conn.SetDeadline(deadline)
	_ = sc.conn.SetReadDeadline(start.Add(s.cfg.FirstFrameTimeout))
	ctx, cancel := context.WithDeadline(s.base, deadline)
	h := &serverHandshake{srv: s, conn: sc.conn, br: bufio.NewReader(sc.conn), onHello: func() {
		_ = sc.conn.SetReadDeadline(deadline)
		s.firstFrame(sc)
	}}
	sess, cn, err := h.run(ctx)
	cancel()
	if err != nil {
		sc.reject(h, log, err)
		return
	}
	if !s.establish(sc) {
		log.Warn("session refused", "reason", "max connections")
		sendError(sc.conn, CodeBusy, PublicReason(CodeBusy))
		return
	}
	_ = sc.conn.SetDeadline(time.Time{})
	// Established: from here Shutdown no longer cuts the connection (as it
	// does a handshake) but lets the handler end it with a close record at
	// its first WaitIdle, also while it is still setting the session up.
	sc.setBusy()
	log = log.With("cn", cn)
	log.Info("client authenticated")
	if s.cfg.OnAccept != nil {
		s.cfg.OnAccept(sc.remote, cn)
	}
	sess.sc, sess.log = sc, log
	s.handler.ServeSession(s.base, sess)
}

// reject reports a failed handshake to the peer (a rejected server_hello
// before ours was sent, an error frame after) and to the callbacks.
func (sc *serverConn) reject(h *serverHandshake, log *slog.Logger, err error) {
	code := CodeOf(err)
	if IsTimeout(err) && code != CodeStoreUnavailable {
		code = CodeTimeout
	}
	log.Warn("handshake failed", "code", code, "err", err)
	if cb := sc.srv.cfg.OnReject; cb != nil {
		cb(sc.remote, err)
	}
	var re *RemoteError
	if errors.As(err, &re) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || PeerReset(err) {
		return // the peer gave up or we are shutting down: nobody to tell
	}
	reason := PublicReason(code)
	if h.sentHello {
		sendError(sc.conn, code, reason)
		return
	}
	_ = sc.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = WriteFrame(sc.conn, marshal(serverHello{Type: typeServerHello, Version: ProtocolVersion,
		Status: "error", Error: &wireError{Code: code, Reason: reason}}))
}

// kill ends the session from outside its loop: the loop notices at its
// next read, which is woken now.
func (sc *serverConn) kill(code, reason string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.killed != "" {
		return
	}
	sc.killed = code + ": " + reason
	_ = sc.conn.SetReadDeadline(time.Unix(1, 0))
}

// endReason is why the loop must stop now, or "" to go on.
func (sc *serverConn) endReason() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.killed != "" {
		return sc.killed
	}
	if sc.srv.closing.Load() {
		return "server shutting down"
	}
	return ""
}

// interrupt is Shutdown's nudge: a handshake is cut, an idle session's
// read is woken (its loop then sends close), a busy one is left to finish.
func (sc *serverConn) interrupt() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch sc.state {
	case stateHandshake:
		sc.conn.Close()
	case stateIdle:
		_ = sc.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// setBusy marks the connection busy and reports false if the server is
// closing (checked under the same lock interrupt takes, so no wake-up is
// lost).
func (sc *serverConn) setBusy() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.state = stateBusy
	return !sc.srv.closing.Load()
}

// waitIdle arms the idle deadline and marks the connection idle, unless the
// server is closing or the session was killed. The deadline is set before
// the state, under the lock, so Shutdown's earlier deadline always wins.
func (sc *serverConn) waitIdle(idle time.Duration) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.srv.closing.Load() || sc.killed != "" {
		return false
	}
	_ = sc.conn.SetReadDeadline(time.Now().Add(idle))
	sc.state = stateIdle
	return true
}

// IsTimeout reports whether err is a network timeout (an expired
// deadline: an idle peer, or a read woken by Shutdown or Session.Kill).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
