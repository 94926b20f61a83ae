package chat

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/securechat/scca/internal/waitfor"
)

// TestCrossTransportRoomsAndDirectMessages: users connected over TCP and
// over WebSocket to one server share rooms, presence and direct messages,
// live and queued, in both directions (docs/PROTOCOL.md §14), with the
// real SQLite inventory as checker and message store.
func TestCrossTransportRoomsAndDirectMessages(t *testing.T) {
	st, admin := sqliteStores(t)
	sw := newStoreWorld(t, st, admin, "alice", "bob", "carol")
	addr, url, srv, _ := startWSServerWith(t, sw.serverConfig(), WebSocketOptions{})
	ctx := context.Background()
	alice := sw.dial(t, addr, "alice") // TCP
	bob := sw.dialWS(t, url, "bob")    // WebSocket
	// A direct message is "delivered" only to a session that has finished
	// replaying its queue (until then it is "queued" and the replay brings
	// it): wait for both replays, which run beside the session.
	waitLive(t, srv, "alice")
	waitLive(t, srv, "bob")

	// Presence, WebSocket -> TCP and TCP -> WebSocket.
	if m, err := bob.Join(ctx, "lobby"); err != nil || !slices.Equal(m, []string{"bob"}) {
		t.Fatalf("bob joins: %v, %v", m, err)
	}
	if m, err := alice.Join(ctx, "lobby"); err != nil || !slices.Equal(m, []string{"alice", "bob"}) {
		t.Fatalf("alice joins: %v, %v", m, err)
	}
	if ev := receive(t, bob); ev.Kind != EventJoin || ev.From != "alice" || ev.Room != "lobby" {
		t.Fatalf("bob (ws) got %+v, want alice's join", ev)
	}
	for _, c := range []*Conn{alice, bob} {
		if who, err := c.Who(ctx, ""); err != nil || !slices.Equal(who, []string{"alice", "bob"}) {
			t.Fatalf("who: %v, %v", who, err)
		}
	}

	// Room messages both ways.
	exchange := func(from, to *Conn, fromCN, toCN, room, text string) {
		t.Helper()
		var res SendResult
		var err error
		if room == "" {
			res, err = from.SendTo(ctx, toCN, text)
		} else {
			res, err = from.SendRoom(ctx, room, text)
		}
		if err != nil || res.Status != StatusDelivered {
			t.Fatalf("%s sends %q: %+v, %v", fromCN, text, res, err)
		}
		ev := receiveMessage(t, to)
		if ev.From != fromCN || ev.Room != room || ev.Text != text || ev.ID != res.ID {
			t.Fatalf("got %+v, want %q from %s in %q with id %d", ev, text, fromCN, room, res.ID)
		}
	}
	exchange(alice, bob, "alice", "bob", "lobby", "tcp to ws, room")
	exchange(bob, alice, "bob", "alice", "lobby", "ws to tcp, room")
	exchange(alice, bob, "alice", "bob", "", "tcp to ws, direct")
	exchange(bob, alice, "bob", "alice", "", "ws to tcp, direct")

	// Queued over one transport, delivered over the other.
	if res, err := bob.SendTo(ctx, "carol", "ws to offline"); err != nil || res.Status != StatusQueued {
		t.Fatalf("queue for carol: %+v, %v", res, err)
	}
	if res, err := alice.SendTo(ctx, "carol", "tcp to offline"); err != nil || res.Status != StatusQueued {
		t.Fatalf("queue for carol: %+v, %v", res, err)
	}
	carol := sw.dialWS(t, url, "carol")
	for _, want := range []string{"ws to offline", "tcp to offline"} {
		if ev := receiveMessage(t, carol); ev.Text != want {
			t.Fatalf("carol (ws) got %+v, want %q", ev, want)
		}
	}
	if err := carol.Confirm(); err != nil { // handled: off the queue at once
		t.Fatal(err)
	}
	sw.waitPending(t, "carol", 0)

	// Leaving, and a WebSocket session ending, are seen over TCP.
	if err := bob.Leave(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, alice); ev.Kind != EventLeave || ev.From != "bob" {
		t.Fatalf("alice (tcp) got %+v, want bob's leave", ev)
	}
	if _, err := carol.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, alice); ev.Kind != EventJoin || ev.From != "carol" {
		t.Fatalf("alice (tcp) got %+v, want carol's join", ev)
	}
	carol.Close()
	if ev := receive(t, alice); ev.Kind != EventLeave || ev.From != "carol" {
		t.Fatalf("alice (tcp) got %+v, want carol's leave", ev)
	}
	// And a TCP session ending is seen over WebSocket.
	if _, err := bob.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	alice.Close()
	if ev := receive(t, bob); ev.Kind != EventLeave || ev.From != "alice" || ev.Room != "lobby" {
		t.Fatalf("bob (ws) got %+v, want alice's leave", ev)
	}
	waitfor.Check(t, waitfor.HangBound, func() error {
		who, err := bob.Who(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(who, []string{"bob"}) {
			return fmt.Errorf("waiting for who to be only bob after the others left: %v", who)
		}
		return nil
	})
}

func (sw *storeWorld) dialWS(t *testing.T, url, name string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialWebSocket(ctx, url, sw.users[name])
	if err != nil {
		t.Fatalf("websocket dial as %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
