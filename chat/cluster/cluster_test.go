package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/chat"
)

var bg = context.Background()

// transports runs f on TCP and on WebSocket.
func transports(t *testing.T, f func(t *testing.T, ws bool)) {
	for _, ws := range []bool{false, true} {
		name := "tcp"
		if ws {
			name = "websocket"
		}
		t.Run(name, func(t *testing.T) { f(t, ws) })
	}
}

// TestRoomsAndPresenceSpanServers: members on three servers share one
// room: joins, leaves, who, rooms and every message reach all members
// once, in order per sender.
func TestRoomsAndPresenceSpanServers(t *testing.T) {
	transports(t, func(t *testing.T, ws bool) {
		w := newWorld(t, dbSQLite(t), "alice", "bob", "carol")
		a, b, c := w.startNode(t, "chat-a", nodeOpts{}), w.startNode(t, "chat-b", nodeOpts{}), w.startNode(t, "chat-c", nodeOpts{})
		alice, bob, carol := w.dial(t, a, "alice", ws), w.dial(t, b, "bob", ws), w.dial(t, c, "carol", ws)

		if _, err := alice.Join(bg, "r"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "alice in r seen from chat-b", func() bool {
			m, err := bob.Who(bg, "r")
			return err == nil && slices.Equal(m, []string{"alice"})
		})
		members, err := bob.Join(bg, "r")
		if err != nil || !slices.Equal(members, []string{"alice", "bob"}) {
			t.Fatalf("bob joins r: %v %v, want [alice bob]", members, err)
		}
		if ev := receive(t, alice); ev.Kind != chat.EventJoin || ev.From != "bob" || ev.Room != "r" {
			t.Fatalf("alice got %+v, want bob's join", ev)
		}
		waitFor(t, "who and rooms on chat-c", func() bool {
			all, err1 := carol.Who(bg, "")
			rooms, err2 := carol.Rooms(bg)
			return err1 == nil && err2 == nil && slices.Equal(all, []string{"alice", "bob", "carol"}) && slices.Equal(rooms, []string{"r"})
		})

		const n = 50
		for i := range n {
			res, err := bob.SendRoom(bg, "r", fmt.Sprintf("m%d", i))
			if err != nil || res.Status != chat.StatusDelivered {
				t.Fatalf("send %d: %+v %v", i, res, err)
			}
		}
		for i := range n {
			ev := receive(t, alice)
			if ev.Kind != chat.EventMessage || ev.From != "bob" || ev.Room != "r" || ev.Text != fmt.Sprintf("m%d", i) {
				t.Fatalf("alice's message %d: %+v", i, ev)
			}
		}
		// nothingWithin ends a Conn's usefulness (its read timed out), so
		// it checks only connections not used after it.
		nothingWithin(t, carol, 200*time.Millisecond) // not a member
		if _, err := alice.SendRoom(bg, "r", "hi bob"); err != nil {
			t.Fatal(err)
		}
		// No echo: bob's first message is alice's, none of his own.
		if ev := receiveUntil(t, bob, isMessage); ev.From != "alice" || ev.Text != "hi bob" {
			t.Fatalf("bob got %+v, want alice's hi", ev)
		}

		if err := bob.Leave(bg, "r"); err != nil {
			t.Fatal(err)
		}
		if ev := receive(t, alice); ev.Kind != chat.EventLeave || ev.From != "bob" {
			t.Fatalf("alice got %+v, want bob's leave", ev)
		}
		_, err = bob.SendRoom(bg, "r", "after leaving")
		if !errors.Is(err, chat.ErrMessageRejected) || !strings.Contains(err.Error(), chat.ReasonNotInRoom) {
			t.Fatalf("send after leave: %v, want not_in_room", err)
		}
	})
}

func isMessage(ev chat.Event) bool { return ev.Kind == chat.EventMessage }

func dbSQLite(t *testing.T) string { return databases(t)["sqlite"](t) }

// TestDirectMessagesAcrossServers on SQLite, MariaDB and PostgreSQL: live on another
// server (delivered), offline (queued, replayed on whichever server the
// recipient reaches), and exactly once per confirmation.
func TestDirectMessagesAcrossServers(t *testing.T) {
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			transports(t, func(t *testing.T, ws bool) {
				w := newWorld(t, db(t), "alice", "bob")
				a, b, c := w.startNode(t, "chat-a", nodeOpts{}), w.startNode(t, "chat-b", nodeOpts{}), w.startNode(t, "chat-c", nodeOpts{})
				alice := w.dial(t, a, "alice", ws)
				bob := w.dial(t, b, "bob", ws)
				waitFor(t, "bob online seen from chat-a", func() bool {
					m, _ := alice.Who(bg, "")
					return slices.Contains(m, "bob")
				})
				// bob's session on chat-b goes live once its replay of
				// the queue is done (in its own goroutine, §12.3); a DM
				// sent before that is committed and reported queued,
				// and reaches him by the replay. Presence does not wait
				// for the replay, so send until one is reported
				// delivered; every one must reach bob, in order.
				waitFor(t, "a DM to bob on chat-b reported delivered", func() bool {
					res, err := alice.SendTo(bg, "bob", "live")
					if err != nil || (res.Status != chat.StatusDelivered && res.Status != chat.StatusQueued) {
						t.Fatalf("live DM: %+v %v, want delivered (or queued while bob's replay runs)", res, err)
					}
					if ev := receive(t, bob); ev.Text != "live" || ev.From != "alice" || ev.ID != res.ID {
						t.Fatalf("bob got %+v, want id %d", ev, res.ID)
					}
					return res.Status == chat.StatusDelivered
				})
				bob.Close()
				waitFor(t, "bob offline seen from chat-a", func() bool {
					m, _ := alice.Who(bg, "")
					return !slices.Contains(m, "bob")
				})
				var ids []int64
				for i := range 3 {
					res, err := alice.SendTo(bg, "bob", fmt.Sprintf("q%d", i))
					if err != nil || res.Status != chat.StatusQueued {
						t.Fatalf("offline DM %d: %+v %v, want queued", i, res, err)
					}
					ids = append(ids, res.ID)
				}
				bob2 := w.dial(t, c, "bob", ws)
				for i := range 3 {
					if ev := receive(t, bob2); ev.Text != fmt.Sprintf("q%d", i) || ev.ID != ids[i] {
						t.Fatalf("replay %d on chat-c: %+v", i, ev)
					}
				}
				if err := bob2.Confirm(); err != nil { // handled
					t.Fatal(err)
				}
				waitFor(t, "confirmations applied", func() bool {
					n, err := w.admin.PendingCount(bg, "bob")
					return err == nil && n == 0
				})
				bob2.Close()
				bob3 := w.dial(t, a, "bob", ws)
				nothingWithin(t, bob3, 300*time.Millisecond) // exactly once: nothing again
			})
		})
	}
}

// TestConcurrentDirectMessagesFromSeveralServers: senders on three servers
// write to one recipient at once; the recipient gets every acknowledged
// message exactly once, ids increasing, none lost to a cumulative
// confirmation (the reason a cluster reads the queue back, not the push).
func TestConcurrentDirectMessagesFromSeveralServers(t *testing.T) {
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, db(t), "s0", "s1", "s2", "rcpt")
			nodes := []*node{w.startNode(t, "n0", nodeOpts{}), w.startNode(t, "n1", nodeOpts{}), w.startNode(t, "n2", nodeOpts{})}
			rcpt := w.dial(t, nodes[0], "rcpt", false)
			const per = 30
			var wg sync.WaitGroup
			acked := make(chan int64, 3*per)
			for i := range 3 {
				s := w.dial(t, nodes[i], fmt.Sprintf("s%d", i), false)
				wg.Go(func() {
					for j := range per {
						res, err := s.SendTo(bg, "rcpt", fmt.Sprintf("s%d-%d", i, j))
						if err != nil {
							t.Errorf("send: %v", err)
							return
						}
						acked <- res.ID
					}
				})
			}
			wg.Wait()
			close(acked)
			want := map[int64]bool{}
			for id := range acked {
				want[id] = true
			}
			last := map[string]int{"s0": -1, "s1": -1, "s2": -1}
			var prev int64
			for range len(want) {
				ev := receive(t, rcpt)
				if ev.ID <= prev || !want[ev.ID] {
					t.Fatalf("got id %d after %d (acked: %v)", ev.ID, prev, want[ev.ID])
				}
				prev = ev.ID
				var j int
				fmt.Sscanf(ev.Text[strings.IndexByte(ev.Text, '-')+1:], "%d", &j)
				if j != last[ev.From]+1 {
					t.Fatalf("%s's message %d after %d", ev.From, j, last[ev.From])
				}
				last[ev.From] = j
			}
			nothingWithin(t, rcpt, 200*time.Millisecond)
			waitFor(t, "queue empty", func() bool { n, _ := w.admin.PendingCount(bg, "rcpt"); return n == 0 })
		})
	}
}

// TestLiveRevocationAcrossServers: a revocation made by another process
// (the admin handle, as `scca revoke`) and hinted through NATS ends the
// certificate's sessions on every server within 1 s, with the database
// poll set to a minute so only the hint can explain it; a ticket of the
// revoked certificate is refused everywhere.
func TestLiveRevocationAcrossServers(t *testing.T) {
	w := newWorld(t, dbSQLite(t), "bob", "alice")
	w.revPoll = time.Minute
	a, b := w.startNode(t, "chat-a", nodeOpts{}), w.startNode(t, "chat-b", nodeOpts{})
	onA, onB := w.dial(t, a, "bob", false), w.dial(t, b, "bob", true)
	alice := w.dial(t, b, "alice", false)
	start := revoke(t, w, "bob")
	for _, c := range []*chat.Conn{onA, onB} {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		_, err := c.Receive(ctx)
		cancel()
		var re *chat.RemoteError
		if !errors.As(err, &re) || re.Code != chat.CodeCertificateRevoked {
			t.Fatalf("session ended with %v, want certificate_revoked", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("sessions ended %v after the revocation, want < 1 s", d)
	}
	if _, err := w.tryDial(a, "bob", false); err == nil {
		t.Fatal("revoked bob could connect again")
	}
	if _, err := alice.Who(bg, ""); err != nil { // others unaffected
		t.Fatal(err)
	}
}

// revoke revokes name's certificate in the inventory and hints the
// cluster, as `scca revoke --broker` does; it returns when it did.
func revoke(t testing.TB, w *world, name string) time.Time {
	t.Helper()
	c := w.users[name].Chain[0]
	if _, err := w.admin.Revoke(bg, revocationOf(c)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := HintRevocation(Config{URL: w.natsURL, Prefix: w.prefix}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	return start
}

// TestResumptionAcrossServers: a ticket from one server resumes on
// another, and is single use across the cluster.
func TestResumptionAcrossServers(t *testing.T) {
	transports(t, func(t *testing.T, ws bool) {
		w := newWorld(t, dbSQLite(t), "alice")
		a, b, c := w.startNode(t, "chat-a", nodeOpts{}), w.startNode(t, "chat-b", nodeOpts{}), w.startNode(t, "chat-c", nodeOpts{})
		first := w.dial(t, a, "alice", ws)
		if first.Resumed() {
			t.Fatal("first connection resumed")
		}
		first.Close()
		cache := w.users["alice"].Tickets
		ticket := cache.Get("localhost")
		if ticket == nil {
			t.Fatal("no ticket from chat-a")
		}
		second := w.dial(t, b, "alice", ws)
		if !second.Resumed() {
			t.Fatal("ticket from chat-a did not resume on chat-b")
		}
		second.Close()
		cache.Put("localhost", ticket) // offer the spent ticket again, elsewhere
		third := w.dial(t, c, "alice", ws)
		if third.Resumed() {
			t.Fatal("a spent ticket resumed again on chat-c")
		}
	})
}
