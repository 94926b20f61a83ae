package testdb

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Proxy is a TCP proxy to a database server on a loopback port, with the
// two faults the tests inject without touching the shared server:
//
//   - Cut closes the listener and every forwarded connection, as if the
//     database host went away (connections are refused); Restore listens
//     on the same port again.
//   - Swallow makes it stop answering: bytes from clients and from the
//     server are read and dropped, new connections are accepted and never
//     answered. It models a hung server or a black-holed network path.
type Proxy struct {
	tb       testing.TB
	upstream string
	addr     string
	swallow  atomic.Bool

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	down  bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to upstream (host:port); it is cut at the end of
// tb.
func NewProxy(tb testing.TB, upstream string) *Proxy {
	tb.Helper()
	p := &Proxy{tb: tb, upstream: upstream, addr: "127.0.0.1:0", conns: make(map[net.Conn]struct{})}
	p.Restore()
	tb.Cleanup(p.Cut)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Swallow makes the proxy stop answering, on open and new connections.
func (p *Proxy) Swallow() { p.swallow.Store(true) }

// Restore starts accepting again, on the port of the first listener.
func (p *Proxy) Restore() {
	p.tb.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("proxy listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr, p.down = ln, ln.Addr().String(), false
	p.mu.Unlock()
	p.wg.Add(1)
	go p.serve(ln)
}

// Cut stops accepting and closes every connection, then waits for the
// forwarding goroutines to end.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.down = true
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	if p.swallow.Load() {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	up, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done
	// One side ended: end the other, and wait for its copy to return.
	c.Close()
	up.Close()
	<-done
}

// pipe copies src to dst until src ends; once the proxy swallows, what
// comes is dropped.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.swallow.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Server creates a throw-away database named prefix_<random> on the
// server of driver ("mysql" or "postgres") and returns its scca --db URL.
func Server(tb testing.TB, driver, prefix string) string {
	tb.Helper()
	switch driver {
	case "mysql":
		return MySQL(tb, prefix)
	case "postgres":
		return Postgres(tb, prefix)
	}
	tb.Fatalf("testdb: no server for driver %q", driver)
	return ""
}

// Servers are the database servers the tests run against (besides SQLite),
// by driver name as Server takes it.
var Servers = []string{"mysql", "postgres"}

// Via splits the --db URL of a server database (a MySQL DSN or a
// postgres:// URL) into the server's host:port and a function that
// rewrites the URL to reach the same database at another address.
func Via(tb testing.TB, dbURL string) (rewrite func(addr string) string, upstream string) {
	tb.Helper()
	if strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://") {
		u, err := url.Parse(dbURL)
		if err != nil {
			tb.Fatal(err)
		}
		return func(addr string) string {
			v := *u
			v.Host = addr
			return v.String()
		}, u.Host
	}
	cfg, err := mysql.ParseDSN(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	return func(addr string) string {
		c := cfg.Clone()
		c.Addr = addr
		return c.FormatDSN()
	}, cfg.Addr
}

// Proxied returns dbURL rewritten to go through a new Proxy to its server,
// and the proxy.
func Proxied(tb testing.TB, dbURL string) (string, *Proxy) {
	tb.Helper()
	rewrite, upstream := Via(tb, dbURL)
	p := NewProxy(tb, upstream)
	return rewrite(p.Addr()), p
}
