package chat

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"

	"github.com/securechat/scca/chat/channel"
)

// relay is the Server as the secure channel's Handler: it serves each
// authenticated session with the messaging application (§12).
type relay Server

// ServeSession runs one session: registers its member, replays queued
// direct messages, then reads requests until the session ends.
func (r *relay) ServeSession(_ context.Context, sess *channel.Session) {
	s := (*Server)(r)
	log := sess.Logger()
	m := &member{sess: sess, cn: sess.PeerCN(), certs: chainKeys(sess.PeerCertificates()), rooms: make(map[string]struct{})}
	m.out = startOutbox(sess, s.cfg.SendQueue, s.cfg.SendQueueBytes, func(err error) {
		log.Info("writing to session failed", "err", err)
		sess.Kill(CodeTimeout, "write failed")
	})
	if reason := s.hub.register(m); reason != "" {
		m.out.close()
		sayClose(sess, CodeCertificateRevoked+": "+reason)
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
	s.loop(sess, m, log)
}

// loop reads records until the client closes, fails, idles out, the server
// shuts down or the session is killed (revocation, too slow). Each message
// is handed to OnMessage and then acknowledged, so an ack means the server
// has processed it; each request gets its response before the next record
// is read (§12.1).
func (s *Server) loop(sess *channel.Session, m *member, log *slog.Logger) {
	var received uint64
	var ackBuf [len(`{"id":}`) + 20]byte
	defer sess.ReleaseRead()
	for {
		sess.ReleaseRead() // nothing is held while waiting
		if !sess.WaitIdle(s.cfg.IdleTimeout) {
			sayClose(sess, sess.EndReason())
			return
		}
		typ, pt, err := sess.ReadRecord()
		if err != nil {
			endOnError(sess, err)
			return
		}
		if !sess.SetBusy() && typ != typeMessage {
			sayClose(sess, "server shutting down")
			return
		}
		switch typ {
		case typeMessage:
			if err := channel.CheckText(pt); err != nil {
				endOnError(sess, err)
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
			if err := channel.WriteRecord(sess, typeAck, channel.AppendAck(ackBuf[:0], received)); err != nil {
				log.Warn("ack failed", "err", err)
				return
			}
		case typeClose:
			log.Info("client closed session", "messages", received)
			_ = channel.WriteRecord(sess, typeClose, "")
			return
		default:
			if err := s.handle(sess, m, typ, pt); err != nil {
				endOnError(sess, err)
				return
			}
		}
	}
}

// sayClose ends a session with a close record saying why (§12.5).
func sayClose(sess *channel.Session, reason string) {
	sess.Logger().Info("closing session", "reason", reason)
	_ = channel.WriteRecord(sess, typeClose, reason)
}

// endOnError ends a session after a read or record failure, telling the
// client why when it is still there to hear it.
func endOnError(sess *channel.Session, err error) {
	log := sess.Logger()
	var re *RemoteError
	switch {
	case channel.IsTimeout(err) && sess.EndReason() != "":
		sayClose(sess, sess.EndReason())
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		log.Info("client disconnected")
	case channel.PeerReset(err):
		// The client dropped the connection: not our internal error.
		log.Info("client reset the connection")
	case errors.As(err, &re):
		log.Warn("client reported error", "code", re.Code, "reason", re.Reason)
	case channel.IsTimeout(err):
		log.Info("session idle timeout", "err", err)
		sess.SendError(CodeTimeout, "idle timeout")
	default:
		log.Warn("session ended", "code", codeOf(err), "err", err)
		sess.SendError(codeOf(err), truncate(err.Error(), maxTextErr))
	}
}
