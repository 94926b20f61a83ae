package testdb

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Blackhole is a TCP proxy to a database server that can be made to stop
// answering without touching the server: once Swallow is called, bytes
// from clients and from the server are read and dropped, and new
// connections are accepted and never answered. It models a hung server or
// a black-holed network path.
type Blackhole struct {
	ln       net.Listener
	upstream string
	swallow  atomic.Bool
	mu       sync.Mutex
	conns    []net.Conn
}

// NewBlackhole starts a proxy to upstream (host:port) on a loopback port;
// it is closed at the end of tb.
func NewBlackhole(tb testing.TB, upstream string) *Blackhole {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b := &Blackhole{ln: ln, upstream: upstream}
	go b.serve()
	tb.Cleanup(b.close)
	return b
}

// Addr is the proxy's host:port.
func (b *Blackhole) Addr() string { return b.ln.Addr().String() }

// Swallow makes the proxy stop answering, on open and new connections.
func (b *Blackhole) Swallow() { b.swallow.Store(true) }

func (b *Blackhole) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.track(c)
		if b.swallow.Load() {
			go io.Copy(io.Discard, c)
			continue
		}
		up, err := net.Dial("tcp", b.upstream)
		if err != nil {
			c.Close()
			continue
		}
		b.track(up)
		go b.pipe(up, c)
		go b.pipe(c, up)
	}
}

// pipe copies src to dst until the proxy swallows, then drops what comes.
func (b *Blackhole) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.swallow.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !b.swallow.Load() {
				dst.Close()
			}
			return
		}
	}
}

func (b *Blackhole) track(c net.Conn) {
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
}

func (b *Blackhole) close() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}
