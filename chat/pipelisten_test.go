package chat

import (
	"net"
	"sync"
	"testing"
)

// pipeListener is an in-memory net.Listener whose connections are
// net.Pipe halves. Tests that wait on the server's timers run it inside a
// testing/synctest bubble, where a goroutine blocked on a real socket does
// not count as idle (so the fake clock would never advance) but one
// blocked on a pipe does.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects a new pipe to the server; it is closed at the end of t.
func (l *pipeListener) dial(t testing.TB) net.Conn {
	t.Helper()
	c, s := net.Pipe()
	select {
	case l.conns <- s:
	case <-l.closed:
		t.Fatal("dial: listener closed")
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// servePipes serves cfg on a pipeListener until the end of t; call it
// inside the bubble.
func servePipes(t testing.TB, cfg ServerConfig) (*pipeListener, *Server, *received) {
	t.Helper()
	ln := newPipeListener()
	srv, rec := serveOn(t, cfg, ln)
	return ln, srv, rec
}
