// Package testnet gives tests their listeners: Loopback, a TCP listener on
// 127.0.0.1, and Listen, an in-memory net.Listener whose connections are
// net.Pipe halves. Tests that wait on a server's timers
// run it inside a testing/synctest bubble: a goroutine blocked on a real
// socket does not count as idle there (so the fake clock would never
// advance), but one blocked on a pipe does.
//
// A net.Pipe has no buffer: a write waits for the peer's read. A test
// whose server answers before it reads (a busy refusal, say) reads that
// answer first.
package testnet

import (
	"net"
	"sync"
	"testing"
)

// Loopback listens on a free TCP port of 127.0.0.1; the listener is closed
// at the end of tb (closing it earlier is harmless).
func Loopback(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// Serve runs handle, each in its own goroutine, on the connections a
// Loopback listener accepts until the end of tb, and returns its address.
func Serve(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln := Loopback(tb)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// Listener accepts the connections Dial makes.
type Listener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// Listen returns a new Listener; create it inside the bubble that uses it.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for the next Dial, or for Close.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Dial fail from now on.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr is the pipe's address.
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects a new pipe to the listener's server and returns the
// client's end, closed at the end of tb.
func (l *Listener) Dial(tb testing.TB) net.Conn {
	tb.Helper()
	c, s := net.Pipe()
	select {
	case l.conns <- s:
	case <-l.closed:
		tb.Fatal("testnet: dial: listener closed")
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

type addr struct{}

func (addr) Network() string { return "pipe" }
func (addr) String() string  { return "pipe" }
