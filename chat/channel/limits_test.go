package channel

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/securechat/scca/internal/testchat"
)

// dialFrom opens a raw TCP connection to addr from the loopback address ip
// (127.0.0.0/8 is all local on Linux), so tests can play several sources.
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

func handshakeCounts(srv *Server) (total, waiting, sessions int) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.hs.total, srv.hs.waiting.Len(), srv.sessions
}

// MaxConns bounds established sessions, not sockets: a third session is
// refused with server_busy, and closing one makes room.
func TestMaxConnsCountsSessions(t *testing.T) {
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.MaxConns = 2
	addr, srv, rec := startServer(t, cfg)
	ctx := context.Background()
	var conns []*testConn
	for range 2 {
		c, err := dialConn(ctx, addr, w.clientConfig())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, func() bool { _, _, n := handshakeCounts(srv); return n == 2 })
	if _, err := dialConn(ctx, addr, w.clientConfig()); !errors.Is(err, ErrBusy) {
		t.Fatalf("third session: %v, want ErrBusy", err)
	}
	conns[0].Close()
	waitFor(t, func() bool { _, _, n := handshakeCounts(srv); return n == 1 })
	assertGoodClient(t, w, addr, rec)
	conns[1].Close()
}

// Silent sockets neither hold the handshake budget nor outlive the
// first-frame deadline: a good client displaces the oldest of them, and
// the rest are cut after FirstFrameTimeout, well before HandshakeTimeout.
// On the fake clock of a synctest bubble, each cut is checked to the
// instant.
func TestSilentPeersAreDisplacedAndCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t)
		cfg := w.serverConfig()
		cfg.MaxHandshakes = 2
		cfg.FirstFrameTimeout = 2 * time.Second
		cfg.HandshakeTimeout = time.Minute
		ln, srv, rec := servePipes(t, cfg)
		start := time.Now()
		cutA, cutB := cutAt(ln.Dial(t)), cutAt(ln.Dial(t))
		synctest.Wait()
		if n, _, _ := handshakeCounts(srv); n != 2 {
			t.Fatalf("%d handshakes admitted, want the 2 silent peers", n)
		}
		// Until the oldest has waited a quarter of the first-frame deadline
		// (its hello could be in flight), a newcomer is refused. (It is
		// told so before it speaks: a net.Pipe has no buffer to take a
		// hello the server does not read.)
		if code := serverVerdict(t, ln.Dial(t)); code != CodeBusy {
			t.Fatalf("newcomer while the waiters are young: %q, want %s", code, CodeBusy)
		}
		time.Sleep(cfg.FirstFrameTimeout / 4)
		c, err := clientConn(ln.Dial(t), w.clientConfig())
		if err != nil {
			t.Fatalf("good client once the waiters are old: %v", err)
		}
		testchat.AssertDelivered(t, c, rec) // displaced a
		if at := (<-cutA).Sub(start); at != cfg.FirstFrameTimeout/4 {
			t.Errorf("the displaced peer was cut after %v, want %v", at, cfg.FirstFrameTimeout/4)
		}
		if at := (<-cutB).Sub(start); at != cfg.FirstFrameTimeout {
			t.Errorf("the silent peer was cut after %v, want the first-frame deadline %v", at, cfg.FirstFrameTimeout)
		}
		synctest.Wait()
		if n, q, _ := handshakeCounts(srv); n != 0 || q != 0 {
			t.Fatalf("after the cuts: %d handshakes, %d waiting; want none", n, q)
		}
	})
}

// cutAt reads c to its end, as a silent peer's kernel would, and tells
// when the server ended it.
func cutAt(c net.Conn) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, c)
		at <- time.Now()
	}()
	return at
}

// One source address cannot take more than MaxHandshakesPerIP handshake
// slots; other sources are not affected.
func TestHandshakesPerSourceAddress(t *testing.T) {
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.MaxHandshakesPerIP = 2
	addr, srv, rec := startServer(t, cfg)
	for range 2 {
		c, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	waitFor(t, func() bool { n, _, _ := handshakeCounts(srv); return n == 2 })
	c, err := dialFrom("127.0.0.2", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if code := serverVerdict(t, c); code != CodeBusy {
		t.Fatalf("third socket from one address: %q, want %s", code, CodeBusy)
	}
	assertGoodClient(t, w, addr, rec) // from 127.0.0.1
}

// TestHandshakeFlood opens idle and trickling sockets from one host
// (issue 9: ~1,100 such sockets used to lock every client out), each
// reopened a second after the server drops it, and measures a good
// client's full handshakes meanwhile (SCCA_FLOOD_SOCKETS changes the count).
// Every good handshake must succeed; p50/p99 are logged (go test -v).
func TestHandshakeFlood(t *testing.T) {
	// 500 by default (15 times the per-source limit) keeps the race-enabled
	// suite quick on a loaded machine; the README figure is measured with
	// SCCA_FLOOD_SOCKETS=2000.
	sockets := 500
	if v, err := strconv.Atoi(os.Getenv("SCCA_FLOOD_SOCKETS")); err == nil && v > 0 {
		sockets = v
	}
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.HandshakeTimeout = 10 * time.Second
	cfg.FirstFrameTimeout = time.Second
	tcpAddr, url, srvRef, _ := startWSServer(t, cfg, WebSocketOptions{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened atomic.Int64
	for i := range sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			flooder("127.0.0.2", tcpAddr, i%2 == 1, stop, &opened)
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	waitFor(t, func() bool { return opened.Load() >= int64(sockets) })

	for _, tr := range bothTransports(tcpAddr, url) {
		var lat []time.Duration
		for range 50 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			start := time.Now()
			ccfg := w.clientConfig()
			ccfg.HandshakeTimeout = 10 * time.Second // the machine may be loaded; the figure is what counts
			c, err := tr.dial(ctx, ccfg)
			cancel()
			if err != nil {
				n, q, ss := handshakeCounts(srvRef)
				t.Fatalf("%s: good client refused under flood after %v: %v (server: %d handshaking, %d waiting, %d sessions)", tr.name, time.Since(start), err, n, q, ss)
			}
			lat = append(lat, time.Since(start))
			c.Close()
		}
		slices.Sort(lat)
		t.Logf("%s: %d flooding sockets; good handshake p50 %v, p99 %v, max %v (50 handshakes)",
			tr.name, sockets, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	}
}

// flooder keeps one hostile socket open from ip: silent, or trickling a
// client_hello one byte at a time, reconnecting when the server drops it.
func flooder(ip, addr string, trickle bool, stop <-chan struct{}, opened *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := dialFrom(ip, addr)
		if err != nil {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond): // pacing of the attack, not a wait
			}
			continue
		}
		opened.Add(1)
		dead := make(chan struct{})
		go func() {
			var buf [512]byte
			for {
				if _, err := c.Read(buf[:]); err != nil {
					close(dead)
					return
				}
			}
		}()
		hello := frameBytes([]byte(`{"type":"client_hello","version":"securechat/1"}`))
		var tickC <-chan time.Time // idle sockets need no timer
		tick := time.NewTicker(100 * time.Millisecond)
		if trickle {
			tickC = tick.C
		}
	hold:
		for i := 0; ; i++ {
			select {
			case <-stop:
				c.Close()
				tick.Stop()
				return
			case <-dead:
				break hold
			case <-tickC:
				if i < len(hello)-1 {
					_, _ = c.Write(hello[i : i+1])
				}
			}
		}
		tick.Stop()
		c.Close()
		select {
		case <-stop:
			return
		case <-time.After(time.Second + time.Duration(rand.Int64N(int64(time.Second)))): // pacing of the attack, spread
		}
	}
}
