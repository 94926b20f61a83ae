package cluster

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/chat"
)

// proxy stands between a node and NATS so a test can take the broker away
// from that node and give it back.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, natsURL string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: strings.TrimPrefix(natsURL, "nats://"), conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// cut drops every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func wantRejected(t *testing.T, err error, reason string) {
	t.Helper()
	if !errors.Is(err, chat.ErrMessageRejected) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("got %v, want rejected with %s", err, reason)
	}
}

// TestBrokerDown: with the broker gone, local delivery goes on,
// cross-server sends are rejected with cluster_unavailable (nothing
// delivered, nothing stored), handshakes work (tickets are refused, so
// they are full ones); when the broker returns everything works again
// without a restart.
func TestBrokerDown(t *testing.T) {
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, db(t), "alice", "bob", "carol", "dave")
			p := startProxy(t, w.natsURL)
			a := w.startNode(t, "chat-a", nodeOpts{natsURL: p.url()})
			b := w.startNode(t, "chat-b", nodeOpts{})
			alice, carol := w.dial(t, a, "alice", false), w.dial(t, a, "carol", true)
			bob := w.dial(t, b, "bob", false)
			for _, j := range []struct {
				c    *chat.Conn
				room string
			}{{alice, "span"}, {bob, "span"}, {alice, "local"}, {carol, "local"}} {
				if _, err := j.c.Join(bg, j.room); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "bob in span seen from chat-a", func() bool {
				m, _ := alice.Who(bg, "span")
				return len(m) == 2
			})
			first := w.dial(t, a, "dave", false) // dave gets a ticket
			first.Close()

			p.cut()
			waitFor(t, "chat-a notices the broker is gone", func() bool { return !a.broker.Up() })
			if res, err := alice.SendRoom(bg, "local", "local room"); err != nil || res.Status != chat.StatusDelivered {
				t.Fatalf("local room: %+v %v", res, err)
			}
			if ev := receiveUntil(t, carol, isMessage); ev.Text != "local room" {
				t.Fatalf("carol got %+v", ev)
			}
			if res, err := alice.SendTo(bg, "carol", "local dm"); err != nil || res.Status != chat.StatusDelivered {
				t.Fatalf("local DM: %+v %v", res, err)
			}
			if ev := receiveUntil(t, carol, isMessage); ev.Text != "local dm" {
				t.Fatalf("carol got %+v", ev)
			}
			_, err := alice.SendRoom(bg, "span", "lost?")
			wantRejected(t, err, chat.ReasonClusterUnavailable)
			_, err = alice.SendTo(bg, "bob", "lost?")
			wantRejected(t, err, chat.ReasonClusterUnavailable)
			if n, err := w.admin.PendingCount(bg, "bob"); err != nil || n != 0 {
				t.Fatalf("bob's queue: %d %v, want nothing stored", n, err)
			}
			again := w.dial(t, a, "dave", false) // new handshake works; the ticket cannot be spent
			if again.Resumed() {
				t.Fatal("resumed while the cluster's used-ticket record was unreachable")
			}

			p.restore()
			waitFor(t, "chat-a reconnects", func() bool { return a.broker.Up() })
			waitFor(t, "room delivery across servers again", func() bool {
				res, err := alice.SendRoom(bg, "span", "back")
				return err == nil && res.Status == chat.StatusDelivered
			})
			// bob's first message is "back": the rejected ones never came.
			if ev := receiveUntil(t, bob, isMessage); ev.Text != "back" {
				t.Fatalf("bob got %+v, want back", ev)
			}
			if res, err := alice.SendTo(bg, "bob", "dm back"); err != nil || res.Status != chat.StatusDelivered {
				t.Fatalf("DM after recovery: %+v %v", res, err)
			}
			if ev := receiveUntil(t, bob, isMessage); ev.Text != "dm back" {
				t.Fatalf("bob got %+v", ev)
			}
		})
	}
}

// TestServerKilled: a server dies without a word (as kill -9): its
// clients reconnect to another server and resume with their tickets, the
// others see them leave, and delivery goes on.
func TestServerKilled(t *testing.T) {
	w := newWorld(t, dbSQLite(t), "alice", "bob")
	a, b := w.startNode(t, "chat-a", nodeOpts{}), w.startNode(t, "chat-b", nodeOpts{})
	bob := w.dial(t, a, "bob", false)
	alice := w.dial(t, b, "alice", true)
	for _, c := range []*chat.Conn{bob, alice} {
		if _, err := c.Join(bg, "r"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "alice seen in r from chat-a", func() bool { m, _ := bob.Who(bg, "r"); return len(m) == 2 })

	b.kill()
	if _, err := alice.Who(bg, ""); err == nil {
		t.Fatal("alice's session survived its server")
	}
	start := time.Now()
	if ev := receiveUntil(t, bob, func(ev chat.Event) bool { return ev.Kind == chat.EventLeave }); ev.From != "alice" {
		t.Fatalf("bob got %+v, want alice's leave", ev)
	}
	t.Logf("dead server's members dropped after %v", time.Since(start))
	alice2 := w.dial(t, a, "alice", true)
	if !alice2.Resumed() {
		t.Fatal("alice did not resume on chat-a with chat-b's ticket")
	}
	if res, err := alice2.SendTo(bg, "bob", "I moved"); err != nil || res.Status != chat.StatusDelivered {
		t.Fatalf("DM from the moved client: %+v %v", res, err)
	}
	if ev := receiveUntil(t, bob, isMessage); ev.Text != "I moved" {
		t.Fatalf("bob got %+v", ev)
	}
}
