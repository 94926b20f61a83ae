package channel

import (
	"container/list"
	"net"
	"time"
)

// Limits on connections that have not finished the handshake
// (docs/PROTOCOL.md §9). A stranger can open sockets for free, so they get
// a budget of their own, separate from established sessions: MaxHandshakes
// in all, MaxHandshakesPerIP per source, and FirstFrameTimeout to deliver a
// complete client_hello.
const (
	DefaultMaxHandshakes      = 256
	DefaultMaxHandshakesPerIP = 32
	DefaultFirstFrameTimeout  = 3 * time.Second
)

// handshakeLimits counts handshaking connections. waiting lists, oldest
// first, those that have not yet delivered their first frame: the ones
// displaced when the budget is full.
type handshakeLimits struct {
	total   int
	perIP   map[string]int
	waiting *list.List // of *serverConn
}

func newHandshakeLimits() handshakeLimits {
	return handshakeLimits{perIP: make(map[string]int), waiting: list.New()}
}

// sourceIP is the address part of addr, the unit of the per-source limit.
func sourceIP(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// admitLocked takes a handshake slot for sc, or returns why it is refused.
// A full budget displaces the oldest connection still waiting for its
// first frame, if it has waited at least a quarter of FirstFrameTimeout: a
// client sends its hello at once, so the waiters that old are silent or
// trickling sockets.
func (s *Server) admitLocked(sc *serverConn) string {
	switch {
	case s.closing.Load():
		return "server shutting down"
	case s.sessions >= s.cfg.MaxConns:
		return "max connections"
	case s.hs.perIP[sc.ip] >= s.cfg.MaxHandshakesPerIP:
		return "max handshakes from this address"
	case s.hs.total >= s.cfg.MaxHandshakes:
		front := s.hs.waiting.Front()
		// A waiter younger than a quarter of the first-frame deadline may
		// be a client whose hello is in flight: it is not displaced.
		if front == nil || time.Since(front.Value.(*serverConn).admitted) < s.cfg.FirstFrameTimeout/4 {
			return "max handshakes"
		}
		victim := front.Value.(*serverConn)
		s.releaseHandshakeLocked(victim)
		s.id.logger.Info("handshake displaced", "remote", victim.remote, "reason", "no first frame yet, handshake budget full")
		victim.conn.Close() // its handshake ends with a closed connection: nothing is sent
	}
	s.hs.total++
	s.hs.perIP[sc.ip]++
	sc.hsHeld = true
	sc.admitted = time.Now()
	sc.waiting = s.hs.waiting.PushBack(sc)
	return ""
}

// releaseHandshakeLocked gives sc's handshake slot back (once).
func (s *Server) releaseHandshakeLocked(sc *serverConn) {
	if sc.waiting != nil {
		s.hs.waiting.Remove(sc.waiting)
		sc.waiting = nil
	}
	if !sc.hsHeld {
		return
	}
	sc.hsHeld = false
	s.hs.total--
	if s.hs.perIP[sc.ip]--; s.hs.perIP[sc.ip] <= 0 {
		delete(s.hs.perIP, sc.ip)
	}
}

// firstFrame is called when sc's client_hello has arrived: it can no
// longer be displaced.
func (s *Server) firstFrame(sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc.waiting != nil {
		s.hs.waiting.Remove(sc.waiting)
		sc.waiting = nil
	}
}

// establish moves sc from the handshake budget to the sessions; false if
// the sessions are full (it then gets server_busy).
func (s *Server) establish(sc *serverConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseHandshakeLocked(sc)
	if s.sessions >= s.cfg.MaxConns {
		return false
	}
	s.sessions++
	sc.session = true
	return true
}
