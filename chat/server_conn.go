package chat

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"
)

// serve runs one connection: the handshake under HandshakeTimeout, then the
// session loop.
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
		sendError(sc.conn, CodeBusy, publicReason(CodeBusy))
		return
	}
	sess.writeTimeout = s.cfg.WriteTimeout
	_ = sc.conn.SetDeadline(time.Time{})
	log = log.With("cn", cn)
	log.Info("client authenticated")
	if s.cfg.OnAccept != nil {
		s.cfg.OnAccept(sc.remote, cn)
	}
	m := &member{sc: sc, cn: cn, cert: certKeyOf(h.peer[0]), rooms: make(map[string]struct{})}
	m.out = startOutbox(sess, s.cfg.SendQueue, s.cfg.SendQueueBytes, func(err error) {
		log.Info("writing to session failed", "err", err)
		sc.kill(CodeTimeout, "write failed")
	})
	if reason := s.hub.register(m); reason != "" {
		m.out.close()
		sc.sayClose(sess, log, CodeCertificateRevoked+": "+reason)
		return
	}
	quit := make(chan struct{})
	replayed, confirmed := make(chan struct{}), make(chan struct{})
	m.ack.kick = make(chan struct{}, 1)
	go func() {
		defer close(confirmed)
		s.applyConfirms(m, quit)
	}()
	if s.cfg.Mailbox == nil {
		// Nothing to replay: replayQueued only marks the member live, so
		// it runs here rather than in a goroutine of its own.
		s.replayQueued(m, quit)
		close(replayed)
	} else {
		go func() {
			defer close(replayed)
			s.replayQueued(m, quit)
		}()
	}
	defer func() {
		s.hub.unregister(m)
		close(quit)
		m.out.close()
		<-replayed
		<-confirmed
		s.flushConfirm(m)
	}()
	sc.loop(sess, m, log)
}

// reject reports a failed handshake to the peer (a rejected server_hello
// before ours was sent, an error frame after) and to the callbacks.
func (sc *serverConn) reject(h *serverHandshake, log *slog.Logger, err error) {
	code := codeOf(err)
	if isNetErr(err) && code != CodeStoreUnavailable {
		code = CodeTimeout
	}
	log.Warn("handshake failed", "code", code, "err", err)
	if cb := sc.srv.cfg.OnReject; cb != nil {
		cb(sc.remote, err)
	}
	var re *RemoteError
	if errors.As(err, &re) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || peerReset(err) {
		return // the peer gave up or we are shutting down: nobody to tell
	}
	reason := publicReason(code)
	if h.sentHello {
		sendError(sc.conn, code, reason)
		return
	}
	_ = sc.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = writeFrame(sc.conn, marshal(serverHello{Type: typeServerHello, Version: ProtocolVersion,
		Status: "error", Error: &wireError{Code: code, Reason: reason}}))
}

// loop reads records until the client closes, fails, idles out, the server
// shuts down or the session is killed (revocation, too slow). Each message
// is handed to OnMessage and then acknowledged, so an ack means the server
// has processed it; each request gets its response before the next record
// is read (§12.1).
func (sc *serverConn) loop(sess *session, m *member, log *slog.Logger) {
	s := sc.srv
	var received uint64
	var ackBuf [len(`{"id":}`) + 20]byte
	defer sess.releaseRead()
	for {
		sess.releaseRead() // nothing is held while waiting
		if !sc.waitIdle(s.cfg.IdleTimeout) {
			sc.sayClose(sess, log, sc.endReason())
			return
		}
		typ, pt, err := sess.readRecord()
		if err != nil {
			sc.endOnError(sess, log, err)
			return
		}
		if !sc.setState(stateBusy) && typ != typeMessage {
			sc.sayClose(sess, log, "server shutting down")
			return
		}
		switch typ {
		case typeMessage:
			if err := checkText(pt); err != nil {
				sc.endOnError(sess, log, err)
				return
			}
			received++
			if log.Enabled(context.Background(), slog.LevelInfo) {
				log.Info("message received", "id", received, "bytes", len(pt))
			}
			switch {
			case s.cfg.OnMessageBytes != nil:
				s.cfg.OnMessageBytes(m.cn, pt)
			case s.cfg.OnMessage != nil:
				s.cfg.OnMessage(m.cn, string(pt))
			}
			if err := writeRecord(sess, typeAck, appendAck(ackBuf[:0], received)); err != nil {
				log.Warn("ack failed", "err", err)
				return
			}
		case typeClose:
			log.Info("client closed session", "messages", received)
			_ = writeRecord(sess, typeClose, "")
			return
		default:
			if err := sc.handle(sess, m, typ, pt); err != nil {
				sc.endOnError(sess, log, err)
				return
			}
		}
	}
}

// waitIdle arms the idle deadline and marks the connection idle, unless the
// server is closing. The deadline is set before the state, under the lock,
// so Shutdown's earlier deadline always wins.
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

func (sc *serverConn) sayClose(sess *session, log *slog.Logger, reason string) {
	log.Info("closing session", "reason", reason)
	_ = writeRecord(sess, typeClose, reason)
}

// endOnError ends a session after a read or record failure, telling the
// client why when it is still there to hear it.
func (sc *serverConn) endOnError(sess *session, log *slog.Logger, err error) {
	var re *RemoteError
	switch {
	case isNetErr(err) && sc.endReason() != "":
		sc.sayClose(sess, log, sc.endReason())
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		log.Info("client disconnected")
	case peerReset(err):
		// The client dropped the connection: not our internal error.
		log.Info("client reset the connection")
	case errors.As(err, &re):
		log.Warn("client reported error", "code", re.Code, "reason", re.Reason)
	case isNetErr(err):
		log.Info("session idle timeout", "err", err)
		sendError(sess.conn, CodeTimeout, "idle timeout")
	default:
		log.Warn("session ended", "code", codeOf(err), "err", err)
		sendError(sess.conn, codeOf(err), truncate(err.Error(), maxTextErr))
	}
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
