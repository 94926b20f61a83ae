package chat

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Sessions the server ends from outside their loop (live revocation, a
// slow consumer, shutdown) are told why with a close record over WebSocket
// exactly as over TCP (docs/PROTOCOL.md §12.4, §12.5, §14): the wake-up of
// the session loop must not close the WebSocket before close is sent.

// transports dials a msgWorld user over TCP or over WebSocket.
var transports = []struct {
	name string
	dial func(t *testing.T, mw *msgWorld, addr, url, name string) *Conn
}{
	{"tcp", func(t *testing.T, mw *msgWorld, addr, _, name string) *Conn { return mw.dial(t, addr, name) }},
	{"websocket", func(t *testing.T, mw *msgWorld, _, url, name string) *Conn { return mw.dialWS(t, url, name) }},
}

func (mw *msgWorld) dialWS(t testing.TB, url, name string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialWebSocket(ctx, url, mw.users[name])
	if err != nil {
		t.Fatalf("websocket dial as %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestLiveRevocationSaysWhyOnEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			mw := newMsgWorld(t, "alice", "bob")
			addr, url, _ := startWSServer(t, mw.serverConfig(), WebSocketOptions{})
			alice, bob := tr.dial(t, mw, addr, url, "alice"), tr.dial(t, mw, addr, url, "bob")
			mw.store.waitWatching(t)
			start := time.Now()
			mw.store.revoke(mw.users["alice"].Chain[0])
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := alice.Receive(ctx)
			elapsed := time.Since(start)
			var re *RemoteError
			if !errors.Is(err, ErrClosed) || !errors.As(err, &re) || re.Code != CodeCertificateRevoked {
				t.Fatalf("alice's session ended with %v, want ErrClosed with code %s", err, CodeCertificateRevoked)
			}
			if elapsed > 2*time.Second {
				t.Fatalf("revocation took %v to end the session, want < 2s", elapsed)
			}
			if _, err := bob.Who(context.Background(), ""); err != nil {
				t.Fatalf("bob's session was affected: %v", err)
			}
		})
	}
}

// TestSlowConsumerSaysWhyOnEveryTransport: bob stops reading while a room
// floods him; once his queue overflowed and the server ended his session,
// he reads again and finds, after what was already sent, close with
// slow_consumer.
func TestSlowConsumerSaysWhyOnEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			mw := newMsgWorld(t, "alice", "bob")
			cfg := mw.serverConfig()
			cfg.SendQueue = 4
			addr, url, srv, _ := startWSServerWith(t, cfg, WebSocketOptions{})
			ctx := context.Background()
			alice, bob := mw.dial(t, addr, "alice"), tr.dial(t, mw, addr, url, "bob")
			for _, c := range []*Conn{alice, bob} {
				if _, err := c.Join(ctx, "r"); err != nil {
					t.Fatal(err)
				}
			}
			big := strings.Repeat("x", 100<<10)
			// Bounded by volume, not by the clock (a loaded machine sends
			// slowly): far more than the queue plus every socket buffer.
			for sent := 0; !killed(srv, "bob"); sent++ {
				if sent == 5000 {
					t.Fatal("the slow member's session was never ended")
				}
				if _, err := alice.SendRoom(ctx, "r", big); err != nil {
					t.Fatalf("a slow member blocked or failed the sender: %v", err)
				}
			}
			// Only a hang detector: reading what was buffered is fast.
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			for {
				ev, err := bob.Receive(rctx)
				if err == nil {
					if ev.Kind == EventMessage && ev.Text != big {
						t.Fatalf("bob got %+v", ev)
					}
					continue
				}
				var re *RemoteError
				if !errors.Is(err, ErrClosed) || !errors.As(err, &re) || re.Code != CodeSlowConsumer {
					t.Fatalf("bob's session ended with %v, want ErrClosed with code %s", err, CodeSlowConsumer)
				}
				return
			}
		})
	}
}

// TestShutdownSaysCloseOnEveryTransport: an idle session is sent close at
// Shutdown (docs/PROTOCOL.md §6.5), over WebSocket as over TCP.
func TestShutdownSaysCloseOnEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			mw := newMsgWorld(t, "alice")
			addr, url, srv, _ := startWSServerWith(t, mw.serverConfig(), WebSocketOptions{})
			idle := tr.dial(t, mw, addr, url, "alice")
			if _, err := idle.Who(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(ctx) }()
			// Read the record layer directly: the client API reports a
			// close without a code and a connection dropped without close
			// alike, as ErrClosed.
			_ = idle.sess.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			typ, pt, err := idle.sess.readRecord()
			if err != nil || typ != typeClose || string(pt) != "server shutting down" {
				t.Fatalf("idle session at shutdown read %q %q, %v; want close saying the server is shutting down", typ, pt, err)
			}
			idle.sess.releaseRead()
			idle.fail(ErrClosed)
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}

// killed reports whether the sessions of cn were ended from outside their
// loop (or are gone already).
func killed(srv *Server, cn string) bool {
	srv.hub.mu.RLock()
	defer srv.hub.mu.RUnlock()
	if len(srv.hub.byCN[cn]) == 0 {
		return true
	}
	for m := range srv.hub.byCN[cn] {
		m.sc.mu.Lock()
		k := m.sc.killed
		m.sc.mu.Unlock()
		if k != "" {
			return true
		}
	}
	return false
}

// TestIdleTimeoutSaysWhyOnEveryTransport: a session idle for longer than
// IdleTimeout is sent a timeout error before the connection is closed.
func TestIdleTimeoutSaysWhyOnEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			mw := newMsgWorld(t, "alice")
			cfg := mw.serverConfig()
			cfg.IdleTimeout = 200 * time.Millisecond
			addr, url, _ := startWSServer(t, cfg, WebSocketOptions{})
			idle := tr.dial(t, mw, addr, url, "alice")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var re *RemoteError
			if _, err := idle.Receive(ctx); !errors.As(err, &re) || re.Code != CodeTimeout {
				t.Fatalf("idle session ended with %v, want a %s error from the server", err, CodeTimeout)
			}
		})
	}
}

// wsPair returns the two ends of a real WebSocket as net.Conns; the
// client end is wrapped in wsConn.
// goroutineWaitsIn reports whether some goroutine is blocked in state (as
// the runtime names it: "select", "chan send") with fn as its innermost
// frame: a condition a test can wait for instead of sleeping.
func goroutineWaitsIn(state, fn string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, frames, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "["+state) && strings.HasPrefix(frames, "github.com/securechat/scca/chat."+fn+"(") {
			return true
		}
	}
	return false
}

// whenReadWaits runs f once a wsConn Read is blocked waiting, unless done
// closes first (the Read returned without waiting).
func whenReadWaits(done <-chan struct{}, f func()) {
	for !goroutineWaitsIn("select", "(*wsConn).Read") {
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond): // poll interval
		}
	}
	f()
}

func wsPair(t *testing.T) (client *wsConn, server net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		accepted <- websocket.NetConn(context.WithoutCancel(r.Context()), wc, websocket.MessageBinary)
	}))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client = newWSConn(websocket.NetConn(context.Background(), wc, websocket.MessageBinary))
	server = <-accepted
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// TestWSConnDeadlineKeepsConnection: an expired read deadline fails the
// Read with a timeout and leaves the WebSocket open; bytes that arrive for
// the interrupted read are returned by the next one, in order.
func TestWSConnDeadlineKeepsConnection(t *testing.T) {
	c, peer := wsPair(t)
	buf := make([]byte, 16)
	isTimeout := func(err error) bool {
		var ne net.Error
		return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
	}

	// An interrupted read: woken as Shutdown and kill do, once Read waits.
	done := make(chan struct{})
	go whenReadWaits(done, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	n, err := c.Read(buf)
	close(done)
	if !isTimeout(err) {
		t.Fatalf("read past the deadline: %d, %v; want a timeout", n, err)
	}
	// Still open both ways.
	if _, err := c.Write([]byte("close: why")); err != nil {
		t.Fatalf("write after the read deadline expired: %v", err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := io.ReadFull(peer, buf[:10]); err != nil || string(buf[:n]) != "close: why" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	// An expired deadline wins over data already there, as on TCP.
	if _, err := peer.Write([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	// The pump (asked by the read above) holds the chunk, offering it.
	waitFor(t, func() bool { return goroutineWaitsIn("select", "(*wsConn).pump") })
	if _, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read with the deadline still past: %v; want a timeout", err)
	}
	// Cleared: the data is all there, in order, across short reads.
	_ = c.SetDeadline(time.Time{})
	if _, err := peer.Write([]byte("ghi")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 9)
	for i := 0; i < len(got); {
		n, err := c.Read(got[i:min(i+2, len(got))])
		if err != nil {
			t.Fatalf("read after clearing the deadline: %v", err)
		}
		i += n
	}
	if string(got) != "abcdefghi" {
		t.Fatalf("read %q, want abcdefghi", got)
	}
	// A future deadline that passes while waiting.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read past a future deadline: %v; want a timeout", err)
	}
	// Close wakes a pending Read and the pump ends (goleak checks).
	_ = c.SetReadDeadline(time.Time{})
	done = make(chan struct{})
	go whenReadWaits(done, func() { c.Close() })
	_, err = c.Read(buf)
	close(done)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read across Close: %v, want net.ErrClosed", err)
	}
	// The peer sees the end of the stream.
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := peer.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("peer after Close: %v, want EOF", err)
	}
}
