package chat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	_ = sc.conn.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	h := &serverHandshake{srv: s, conn: sc.conn, br: bufio.NewReader(sc.conn)}
	sess, cn, err := h.run(ctx)
	cancel()
	if err != nil {
		sc.reject(h, log, err)
		return
	}
	sess.writeTimeout = s.cfg.WriteTimeout
	_ = sc.conn.SetDeadline(time.Time{})
	log = log.With("cn", cn)
	log.Info("client authenticated")
	if s.cfg.OnAccept != nil {
		s.cfg.OnAccept(sc.remote, cn)
	}
	sc.loop(sess, cn, log)
}

// reject reports a failed handshake to the peer (a rejected server_hello
// before ours was sent, an error frame after) and to the callbacks.
func (sc *serverConn) reject(h *serverHandshake, log *slog.Logger, err error) {
	code := codeOf(err)
	if isNetErr(err) {
		code = CodeTimeout
	}
	log.Warn("handshake failed", "code", code, "err", err)
	if cb := sc.srv.cfg.OnReject; cb != nil {
		cb(sc.remote, err)
	}
	var re *RemoteError
	if errors.As(err, &re) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return // the peer gave up or we are shutting down: nobody to tell
	}
	reason := truncate(err.Error(), maxTextErr)
	if h.sentHello {
		sendError(sc.conn, code, reason)
		return
	}
	_ = sc.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = writeFrame(sc.conn, marshal(serverHello{Type: typeServerHello, Version: ProtocolVersion,
		Status: "error", Error: &wireError{Code: code, Reason: reason}}))
}

// loop reads records until the client closes, fails, idles out or the
// server shuts down. Each message is handed to OnMessage and then
// acknowledged, so an ack means the server has processed it.
func (sc *serverConn) loop(sess *session, cn string, log *slog.Logger) {
	s := sc.srv
	var received uint64
	var ackBuf [len(`{"id":}`) + 20]byte
	defer sess.releaseRead()
	for {
		sess.releaseRead() // nothing is held while waiting
		if !sc.waitIdle(s.cfg.IdleTimeout) {
			sc.sayClose(sess, log, "server shutting down")
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
			if s.cfg.OnMessage != nil {
				s.cfg.OnMessage(cn, string(pt))
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
			sc.endOnError(sess, log, fmt.Errorf("%w: client sent %s", ErrProtocol, typ))
			return
		}
	}
}

// waitIdle arms the idle deadline and marks the connection idle, unless the
// server is closing. The deadline is set before the state, under the lock,
// so Shutdown's earlier deadline always wins.
func (sc *serverConn) waitIdle(idle time.Duration) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.srv.closing.Load() {
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
	case sc.srv.closing.Load() && isNetErr(err):
		sc.sayClose(sess, log, "server shutting down")
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		log.Info("client disconnected")
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
