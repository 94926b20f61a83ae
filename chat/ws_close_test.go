package chat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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

// TestLiveRevocationEndsSession: a revocation ends the revoked client's
// live session with certificate_revoked, over every transport, within the
// watcher's bound; other sessions are untouched, and a session the
// handshake let through just before the revocation is refused at
// registration.
func TestLiveRevocationEndsSession(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			mw := newMsgWorld(t, "alice", "bob")
			addr, url, srv, _ := startWSServerWith(t, mw.serverConfig(), WebSocketOptions{})
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
			k := certKeyOf(mw.users["alice"].Chain[0])
			if !srv.isRevoked(k.issuerKeyID, k.serial) {
				t.Fatal("isRevoked does not report the revoked certificate")
			}
			if _, err := bob.Who(context.Background(), ""); err != nil {
				t.Fatalf("bob's session was affected: %v", err)
			}
			var c *Conn
			if tr.name == "websocket" {
				c, err = DialWebSocket(context.Background(), url, mw.users["alice"])
			} else {
				c, err = Dial(context.Background(), addr, mw.users["alice"])
			}
			if err == nil {
				defer c.Close()
				_, err = c.Who(context.Background(), "")
			}
			if !errors.As(err, &re) || re.Code != CodeCertificateRevoked {
				t.Fatalf("new session after revocation: %v, want %s", err, CodeCertificateRevoked)
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
			_ = idle.sess.NetConn().SetReadDeadline(time.Now().Add(3 * time.Second))
			typ, pt, err := idle.sess.ReadRecord()
			if err != nil || typ != typeClose || string(pt) != "server shutting down" {
				t.Fatalf("idle session at shutdown read %q %q, %v; want close saying the server is shutting down", typ, pt, err)
			}
			idle.sess.ReleaseRead()
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
		if m.sess.Killed() {
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
