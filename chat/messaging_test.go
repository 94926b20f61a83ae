package chat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDirectMessageLiveAndQueued(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	addr, srv, _ := startServer(t, mw.serverConfig())
	ctx := context.Background()
	alice := mw.dial(t, addr, "alice")

	// bob is offline: the message is committed before alice is answered.
	res, err := alice.SendTo(ctx, "bob", "while you were out")
	if err != nil || res.Status != StatusQueued || res.ID == 0 {
		t.Fatalf("send to offline bob = %+v, %v; want queued with an id", res, err)
	}
	if n := mw.store.count("bob"); n != 1 {
		t.Fatalf("store holds %d messages for bob, want 1", n)
	}

	bob := mw.dial(t, addr, "bob")
	ev := receiveMessage(t, bob)
	if ev.From != "alice" || ev.Room != "" || ev.Text != "while you were out" || ev.ID != res.ID {
		t.Fatalf("bob got %+v, want the queued message %d from alice", ev, res.ID)
	}
	// Live now (once bob's replay has switched to live delivery; until
	// then a message is "queued" and the replay brings it), and after the
	// queued one.
	waitLive(t, srv, "bob")
	res2, err := alice.SendTo(ctx, "bob", "now live")
	if err != nil || res2.Status != StatusDelivered || res2.ID <= res.ID {
		t.Fatalf("send to online bob = %+v, %v; want delivered with a larger id", res2, err)
	}
	if ev := receiveMessage(t, bob); ev.Text != "now live" || ev.From != "alice" {
		t.Fatalf("bob got %+v", ev)
	}
	// Receive confirmed the first when asked for the second; the second is
	// still out (bob may be printing it) until Confirm says it is handled.
	waitFor(t, func() bool { return mw.store.count("bob") == 1 })
	if err := bob.Confirm(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return mw.store.count("bob") == 0 })
}

func TestDirectMessageOrderAcrossReconnect(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	addr, _, _ := startServer(t, mw.serverConfig())
	ctx := context.Background()
	alice := mw.dial(t, addr, "alice")
	const n = 250 // more than one replay batch
	for i := range n {
		if _, err := alice.SendTo(ctx, "bob", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	bob := mw.dial(t, addr, "bob")
	// Sends during the replay must come after the queued ones, once each.
	go func() {
		for i := n; i < n+50; i++ {
			if _, err := alice.SendTo(ctx, "bob", fmt.Sprint(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range n + 50 {
		if ev := receiveMessage(t, bob); ev.Text != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q (exactly once, in order)", i, ev.Text)
		}
	}
}

func TestDirectMessageRefusals(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	cfg := mw.serverConfig()
	cfg.QueueLimit = 2
	addr, _, _ := startServer(t, cfg)
	ctx := context.Background()
	alice := mw.dial(t, addr, "alice")
	for i := range 2 {
		if _, err := alice.SendTo(ctx, "bob", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("queue full", func(t *testing.T) {
		_, err := alice.SendTo(ctx, "bob", "one too many")
		if !errors.Is(err, ErrMessageRejected) {
			t.Fatalf("err = %v, want ErrMessageRejected (queue_full)", err)
		}
		if n := mw.store.count("bob"); n != 2 {
			t.Fatalf("bob has %d queued, want 2", n)
		}
	})
	t.Run("store down", func(t *testing.T) {
		mw.store.setDown(true)
		defer mw.store.setDown(false)
		_, err := alice.SendTo(ctx, "carol", "hello?")
		if !errors.Is(err, ErrMessageRejected) {
			t.Fatalf("err = %v, want ErrMessageRejected (store_unavailable)", err)
		}
		// The session survives the outage.
		if _, err := alice.Who(ctx, ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no store", func(t *testing.T) {
		plain := mw.world.serverConfig()
		addr2, _, _ := startServer(t, plain)
		c := mw.dial(t, addr2, "alice")
		if _, err := c.SendTo(ctx, "bob", "x"); !errors.Is(err, ErrMessageRejected) {
			t.Fatalf("err = %v, want ErrMessageRejected (no_store)", err)
		}
	})
}

func TestQueuedMessagesSurviveServerRestart(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	ctx := context.Background()
	addr1, srv1, _ := startServer(t, mw.serverConfig())
	alice := mw.dial(t, addr1, "alice")
	for _, s := range []string{"one", "two"} {
		if _, err := alice.SendTo(ctx, "bob", s); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv1.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	addr2, _, _ := startServer(t, mw.serverConfig()) // same database, new process
	bob := mw.dial(t, addr2, "bob")
	for _, want := range []string{"one", "two"} {
		if ev := receiveMessage(t, bob); ev.Text != want {
			t.Fatalf("after restart bob got %q, want %q", ev.Text, want)
		}
	}
}

func TestUnconfirmedMessageIsDeliveredAgain(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	addr, _, _ := startServer(t, mw.serverConfig())
	ctx := context.Background()
	alice := mw.dial(t, addr, "alice")
	bob := mw.dial(t, addr, "bob")
	if _, err := alice.SendTo(ctx, "bob", "are you there?"); err != nil {
		t.Fatal(err)
	}
	// bob's process dies before taking the message from its Conn.
	bob.sess.NetConn().Close()
	bob2 := mw.dial(t, addr, "bob")
	if ev := receiveMessage(t, bob2); ev.Text != "are you there?" {
		t.Fatalf("bob got %+v", ev)
	}
}

func TestRoomsAndPresence(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob", "carol")
	addr, _, _ := startServer(t, mw.serverConfig())
	ctx := context.Background()
	alice, bob, carol := mw.dial(t, addr, "alice"), mw.dial(t, addr, "bob"), mw.dial(t, addr, "carol")

	if _, err := alice.SendRoom(ctx, "lobby", "anyone?"); !errors.Is(err, ErrMessageRejected) {
		t.Fatalf("send to a room not joined: %v, want ErrMessageRejected", err)
	}
	if m, err := alice.Join(ctx, "lobby"); err != nil || !slices.Equal(m, []string{"alice"}) {
		t.Fatalf("join = %v, %v", m, err)
	}
	if m, err := bob.Join(ctx, "lobby"); err != nil || !slices.Equal(m, []string{"alice", "bob"}) {
		t.Fatalf("join = %v, %v", m, err)
	}
	if ev := receive(t, alice); ev.Kind != EventJoin || ev.From != "bob" || ev.Room != "lobby" {
		t.Fatalf("alice got %+v, want bob's join", ev)
	}
	res, err := bob.SendRoom(ctx, "lobby", "hi all")
	if err != nil || res.Status != StatusDelivered {
		t.Fatalf("room send = %+v, %v", res, err)
	}
	if ev := receive(t, alice); ev.Kind != EventMessage || ev.From != "bob" || ev.Room != "lobby" || ev.Text != "hi all" {
		t.Fatalf("alice got %+v", ev)
	}
	if rooms, err := carol.Rooms(ctx); err != nil || !slices.Equal(rooms, []string{"lobby"}) {
		t.Fatalf("rooms = %v, %v", rooms, err)
	}
	if who, err := carol.Who(ctx, ""); err != nil || !slices.Equal(who, []string{"alice", "bob", "carol"}) {
		t.Fatalf("who = %v, %v", who, err)
	}
	if err := bob.Leave(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, alice); ev.Kind != EventLeave || ev.From != "bob" {
		t.Fatalf("alice got %+v, want bob's leave", ev)
	}
	if err := bob.Leave(ctx, "lobby"); !errors.Is(err, ErrMessageRejected) {
		t.Fatalf("second leave: %v", err)
	}
	// A session that ends leaves its rooms.
	if _, err := carol.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	receive(t, alice) // carol's join
	carol.Close()
	if ev := receive(t, alice); ev.Kind != EventLeave || ev.From != "carol" {
		t.Fatalf("alice got %+v, want carol's leave", ev)
	}
}

func TestRevocationFeedOutage(t *testing.T) {
	mw := newMsgWorld(t, "alice")
	addr, _, _ := startServer(t, mw.serverConfig())
	alice := mw.dial(t, addr, "alice")
	mw.store.waitWatching(t)
	mw.store.setDown(true)
	// The watcher has met the outage (a poll failed) before the revocation.
	waitFor(t, func() bool { _, n := mw.store.feedCounts(); return n > 0 })
	mw.store.revoke(mw.users["alice"].Chain[0]) // recorded; the feed cannot be read yet
	if _, err := alice.Who(context.Background(), ""); err != nil {
		t.Fatalf("session during outage: %v", err)
	}
	mw.store.setDown(false) // the watcher catches up without a restart
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var re *RemoteError
	if _, err := alice.Receive(ctx); !errors.As(err, &re) || re.Code != CodeCertificateRevoked {
		t.Fatalf("after the store came back: %v, want %s", err, CodeCertificateRevoked)
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	cfg := mw.serverConfig()
	cfg.SendQueue = 4
	cfg.WriteTimeout = 300 * time.Millisecond
	addr, _, _ := startServer(t, cfg)
	ctx := context.Background()
	alice := mw.dial(t, addr, "alice")
	if _, err := alice.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	// bob joins over a raw session and never reads again.
	bob := mw.dial(t, addr, "bob")
	if _, err := bob.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10)
	// Bounded by volume, not by the clock (a loaded machine sends slowly):
	// far more than the queue plus every socket buffer.
	for sent := 0; ; sent++ {
		if sent == 5000 {
			t.Fatal("the slow member was never disconnected")
		}
		if _, err := alice.SendRoom(ctx, "r", big); err != nil {
			t.Fatalf("a slow member blocked or failed the sender: %v", err)
		}
		if who, _ := alice.Who(ctx, "r"); slices.Equal(who, []string{"alice"}) {
			break // bob was removed; alice never waited on him
		}
	}
}

func TestClientKilledMidMessage(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	addr, _, _ := startServer(t, mw.serverConfig())
	// alice's connection sends only the first half of the send record,
	// then drops: the record is cut mid-frame.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hw := &halfWriter{Conn: raw}
	alice, err := Handshake(context.Background(), hw, mw.users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	hw.cut.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := alice.SendTo(ctx, "bob", "cut"); err == nil {
		t.Fatal("a send on a connection cut mid-record succeeded")
	}
	bob := mw.dial(t, addr, "bob")
	if _, err := bob.Who(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if n := mw.store.count("bob"); n != 0 {
		t.Fatalf("a half-sent message was stored (%d)", n)
	}
}

// TestSlowConfirmationDoesNotStallTheSession: the server notes a delivered
// confirmation and lets the store take it beside the session, so a slow
// store cannot leave later confirmations unread in the socket (where a
// receiver's crash, resetting the connection, would discard them and every
// message would be delivered again, issue 10). Before, the session's
// reader waited for the store on each confirmation.
func TestSlowConfirmationDoesNotStallTheSession(t *testing.T) {
	mw := newMsgWorld(t, "alice", "bob")
	gate := make(chan struct{})
	mw.store.ackGate = gate
	addr, _, _ := startServer(t, mw.serverConfig())
	ctx := context.Background()
	alice := mw.dial(t, addr, "alice")
	if res, err := alice.SendTo(ctx, "bob", "queued"); err != nil || res.Status != StatusQueued {
		t.Fatalf("send to offline bob = %+v, %v", res, err)
	}
	bob := mw.dial(t, addr, "bob")
	if ev := receiveMessage(t, bob); ev.Text != "queued" {
		t.Fatalf("bob got %+v", ev)
	}
	if err := bob.Confirm(); err != nil { // delivered{id} is on the wire now
		t.Fatal(err)
	}
	// The confirmation is ahead of this request on the connection: with a
	// reader that waits for the store, Who would wait for the gate.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := bob.Who(wctx, ""); err != nil {
		t.Fatalf("who while the store is slow to take a confirmation: %v", err)
	}
	if n := mw.store.count("bob"); n != 1 {
		t.Fatalf("store holds %d messages for bob while the confirmation waits, want 1", n)
	}
	close(gate)
	deadline := time.Now().Add(10 * time.Second)
	for mw.store.count("bob") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the confirmation never reached the store")
		}
		time.Sleep(time.Millisecond)
	}
}

// halfWriter writes only the first half of the first Write after cut is
// set, then closes the connection.
type halfWriter struct {
	net.Conn
	cut atomic.Bool
}

func (h *halfWriter) Write(p []byte) (int, error) {
	if !h.cut.Load() {
		return h.Conn.Write(p)
	}
	n, _ := h.Conn.Write(p[:len(p)/2])
	h.Conn.Close()
	return n, net.ErrClosed
}
