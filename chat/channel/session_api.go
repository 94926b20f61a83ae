package channel

import (
	"crypto/x509"
	"log/slog"
	"net"
	"time"
)

// What a Session tells its user (a Handler, or the client application)
// about the peer and the connection, and the server-side controls a
// Handler's read loop uses to cooperate with Shutdown.

// PeerCertificates is the peer's certificate chain, leaf first: after a
// full handshake the chain it verified, trust anchor last (the
// intermediates may come from the local Intermediates pool rather than
// the peer); after a resumed one the chain the client sent, whose leaf
// the ticket binds (the rest is not verified again; the PeerChecker
// rebuilds the leaf's chain from its configured CAs, §13.4).
func (s *Session) PeerCertificates() []*x509.Certificate { return s.peer }

// PeerCN is the common name of the peer's verified certificate.
func (s *Session) PeerCN() string { return s.peer[0].Subject.CommonName }

// Resumed reports whether the handshake resumed an earlier session with a
// ticket instead of running in full.
func (s *Session) Resumed() bool { return s.resumed }

// Suite is the name of the negotiated cipher suite.
func (s *Session) Suite() string { return s.suite.Name }

// NetConn is the underlying connection (for read deadlines and Close).
// Reading or writing it directly breaks the session.
func (s *Session) NetConn() net.Conn { return s.conn }

// WriteTimeout is how long one WriteRecord may block on a peer that does
// not read.
func (s *Session) WriteTimeout() time.Duration { return s.writeTimeout }

// Logger is the session's logger: the server's with the peer's address
// and CN, or the client's.
func (s *Session) Logger() *slog.Logger { return s.log }

// SendError sends a cleartext error frame (§8) instead of a record, best
// effort, before the session is abandoned.
func (s *Session) SendError(code, reason string) { sendError(s.conn, code, reason) }

// Kill ends a server session from outside its read loop (live revocation,
// a full send queue): the loop's read is woken now, and EndReason returns
// "code: reason" from then on, for the close record (§12.5). On a client
// session it closes the connection.
func (s *Session) Kill(code, reason string) {
	if s.sc == nil {
		s.conn.Close()
		return
	}
	s.sc.kill(code, reason)
}

// Killed reports whether Kill was called.
func (s *Session) Killed() bool {
	if s.sc == nil {
		return false
	}
	s.sc.mu.Lock()
	defer s.sc.mu.Unlock()
	return s.sc.killed != ""
}

// EndReason is why a server session's loop must stop now: the Kill
// reason, or "server shutting down" once Shutdown began; "" to go on.
func (s *Session) EndReason() string {
	if s.sc == nil {
		return ""
	}
	return s.sc.endReason()
}

// WaitIdle is called by a server Handler before it reads the next record:
// it arms the read deadline idle from now and marks the session idle, so
// Shutdown wakes the read at once. It returns false, arming nothing, when
// the session must end (EndReason).
func (s *Session) WaitIdle(idle time.Duration) bool {
	if s.sc == nil {
		return s.conn.SetReadDeadline(time.Now().Add(idle)) == nil
	}
	return s.sc.waitIdle(idle)
}

// SetBusy is called by a server Handler once it read a record: Shutdown
// then lets it finish processing. It returns false if Shutdown has begun.
func (s *Session) SetBusy() bool {
	if s.sc == nil {
		return true
	}
	return s.sc.setBusy()
}
