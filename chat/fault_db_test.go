package chat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testdb"
	"github.com/securechat/scca/revocation"
)

// TestDatabaseOutage runs the server on a real MariaDB and a real
// PostgreSQL inventory reached through a proxy, cuts the proxy while
// sessions are live and restores it,
// and checks docs/PROTOCOL.md §7.3, §12.3 and §12.5:
//
//   - during the outage a new handshake is refused, saying the revocation
//     source is unavailable (fail closed);
//   - live sessions go on: rooms, presence and who work, direct messages are
//     rejected with store_unavailable (never acknowledged as queued), and a
//     delivered confirmation that cannot be applied is kept for later;
//   - nothing acknowledged before the outage is lost;
//   - when the database returns, without a restart: new handshakes succeed,
//     the queued message reaches its recipient exactly once, the pending
//     confirmation is applied, and a revocation made during the outage ends
//     the revoked session within 2 s.
func TestDatabaseOutage(t *testing.T) {
	for _, driver := range testdb.Servers {
		t.Run(driver, func(t *testing.T) { testDatabaseOutage(t, driver) })
	}
}

func testDatabaseOutage(t *testing.T, driver string) {
	st, admin, proxy := serverStores(t, driver, "scca_chat_fault")
	sw := newStoreWorld(t, st, admin, "alice", "bob", "carol", "dave")
	cfg := sw.serverConfig()
	probe := &feedProbe{RevocationFeed: st}
	cfg.Revocations = probe
	var rejMu sync.Mutex
	var rejections []error
	cfg.OnReject = func(_ string, err error) {
		rejMu.Lock()
		defer rejMu.Unlock()
		rejections = append(rejections, err)
	}
	addr, srv, _ := startServer(t, cfg)
	ctx := context.Background()

	// Up: alice and bob in a room, messages flow, a message for offline
	// carol is queued, and one for bob is delivered but not yet taken.
	alice, bob := sw.dial(t, addr, "alice"), sw.dial(t, addr, "bob")
	for _, c := range []*Conn{alice, bob} {
		if _, err := c.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	if ev := receive(t, alice); ev.Kind != EventJoin || ev.From != "bob" {
		t.Fatalf("alice got %+v, want bob's join", ev)
	}
	waitLive(t, srv, "bob") // until then a direct message is queued for bob's replay
	if res := sendRaw(t, alice, sendReq{To: "bob", Text: "live", ClientMsgID: "m1"}); res.Status != StatusDelivered {
		t.Fatalf("dm to online bob: %+v", res)
	}
	if ev := receiveMessage(t, bob); ev.Text != "live" || ev.From != "alice" {
		t.Fatalf("bob got %+v", ev)
	}
	if err := bob.Confirm(); err != nil { // handled
		t.Fatal(err)
	}
	queued := sendRaw(t, alice, sendReq{To: "carol", Text: "for later", ClientMsgID: "m2"})
	if queued.Status != StatusQueued || queued.ID == 0 {
		t.Fatalf("dm to offline carol: %+v, want queued", queued)
	}
	untaken := sendRaw(t, alice, sendReq{To: "bob", Text: "taken during the outage", ClientMsgID: "m3"})
	if untaken.Status != StatusDelivered {
		t.Fatalf("dm to online bob: %+v", untaken)
	}
	sw.waitPending(t, "bob", 1) // "live" confirmed; the second not yet taken
	waitCount(t, "the revocation watcher to read the feed", &probe.ok, 0)

	proxy.Cut()
	t.Run("handshake fails closed", func(t *testing.T) {
		assertRefusedUnavailable(t, sw, addr, "carol", func() []error {
			rejMu.Lock()
			defer rejMu.Unlock()
			return slices.Clone(rejections)
		})
	})
	t.Run("live sessions during outage", func(t *testing.T) {
		assertLiveDuringOutage(t, sw, alice, bob, untaken.ID)
	})
	// Revoked by another process while this server cannot read the feed.
	sw.revoke(t, "alice")
	// The watcher tries, and fails, to read it: the revocation must be
	// applied late, not skipped.
	waitCount(t, "a failed poll of the revocation feed", &probe.failed, probe.failed.Load())
	if _, err := alice.Who(ctx, "lobby"); err != nil {
		t.Fatalf("alice's session ended before the feed could be read: %v", err)
	}
	// Nothing acknowledged was lost, nothing rejected was stored.
	if n := sw.pendingCount(t, "carol"); n != 1 {
		t.Fatalf("carol has %d queued messages during the outage, want 1", n)
	}
	if n := sw.pendingCount(t, "bob"); n != 1 {
		t.Fatalf("bob has %d queued messages during the outage, want 1 (unconfirmed)", n)
	}

	proxy.Restore()
	back := time.Now()
	t.Run("recovered", func(t *testing.T) {
		assertRecovered(t, sw, addr, alice, bob, queued.ID, back)
	})
}

// assertRefusedUnavailable checks a new handshake during the outage is
// refused (fail closed) as store_unavailable: the check could not be made,
// which is not a verdict on the certificate (docs/PROTOCOL.md §8).
func assertRefusedUnavailable(t *testing.T, sw *storeWorld, addr, name string, rejections func() []error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	c, err := Dial(ctx, addr, sw.users[name])
	if err == nil {
		c.Close()
		t.Fatalf("%s connected while the inventory was unreachable", name)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("refusal took %v", d)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeStoreUnavailable {
		t.Fatalf("dial: %v, want a %s from the server", err, CodeStoreUnavailable)
	}
	// The client has proved nothing yet: it is told only the class of
	// failure (§8.1); the cause is in the server's OnReject and log.
	if re.Reason != publicReason(CodeStoreUnavailable) {
		t.Errorf("refusal reason %q, want the generic %q", re.Reason, publicReason(CodeStoreUnavailable))
	}
	rejs := rejections()
	if len(rejs) == 0 || !errors.Is(rejs[len(rejs)-1], revocation.ErrUnavailable) || !errors.Is(rejs[len(rejs)-1], ErrPeerCertificate) {
		t.Fatalf("server's OnReject saw %v, want ErrPeerCertificate wrapping revocation.ErrUnavailable", rejs)
	}
}

// assertLiveDuringOutage: established sessions keep their rooms, presence
// and who; direct messages are rejected with store_unavailable, to online
// and offline users alike, since every one is committed before it is sent.
func assertLiveDuringOutage(t *testing.T, sw *storeWorld, alice, bob *Conn, untakenID int64) {
	ctx := context.Background()
	if res, err := alice.SendRoom(ctx, "lobby", "db is down"); err != nil || res.Status != StatusDelivered {
		t.Fatalf("room send during outage: %+v, %v", res, err)
	}
	// bob takes the message pushed before the outage (its confirmation
	// cannot reach the store now), then the room message.
	if ev := receiveMessage(t, bob); ev.ID != untakenID || ev.Room != "" {
		t.Fatalf("bob got %+v, want direct message %d", ev, untakenID)
	}
	if ev := receiveMessage(t, bob); ev.Room != "lobby" || ev.Text != "db is down" {
		t.Fatalf("bob got %+v, want the room message", ev)
	}
	if who, err := bob.Who(ctx, ""); err != nil || !slices.Equal(who, []string{"alice", "bob"}) {
		t.Fatalf("who during outage: %v, %v", who, err)
	}
	for _, to := range []string{"dave", "bob"} {
		res := sendRaw(t, alice, sendReq{To: to, Text: "lost?", ClientMsgID: "out-" + to})
		if res.Status != StatusRejected || !strings.HasPrefix(res.Reason, ReasonStoreUnavailable+": ") || res.ID != 0 {
			t.Fatalf("dm to %s during outage: %+v, want rejected %s", to, res, ReasonStoreUnavailable)
		}
	}
	if _, err := alice.SendTo(ctx, "dave", "lost?"); !errors.Is(err, ErrMessageRejected) {
		t.Fatalf("SendTo during outage: %v, want ErrMessageRejected", err)
	}
	if err := bob.Leave(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, alice); ev.Kind != EventLeave || ev.From != "bob" {
		t.Fatalf("alice got %+v, want bob's leave", ev)
	}
	if n := sw.pendingCount(t, "dave"); n != 0 {
		t.Fatalf("a rejected message was stored: dave has %d", n)
	}
}

// assertRecovered: the same server, with no restart, serves handshakes and
// the queue again and applies what it could not during the outage.
func assertRecovered(t *testing.T, sw *storeWorld, addr string, alice, bob *Conn, queuedID int64, back time.Time) {
	ctx := context.Background()
	// The revocation made during the outage ends alice's session.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var re *RemoteError
	_, err := alice.Receive(rctx)
	if !errors.Is(err, ErrClosed) || !errors.As(err, &re) || re.Code != CodeCertificateRevoked {
		t.Fatalf("alice's session after the database returned: %v, want %s", err, CodeCertificateRevoked)
	}
	if d := time.Since(back); d > 2*time.Second {
		t.Errorf("revocation applied %v after the database returned, want < 2s", d)
	}
	// carol, refused during the outage, connects and gets the queued
	// message once.
	carol := sw.dial(t, addr, "carol")
	if ev := receiveMessage(t, carol); ev.ID != queuedID || ev.From != "alice" || ev.Text != "for later" {
		t.Fatalf("carol got %+v, want queued message %d", ev, queuedID)
	}
	if err := carol.Confirm(); err != nil {
		t.Fatal(err)
	}
	sw.waitPending(t, "carol", 0)
	carol.Close()
	carol2 := sw.dial(t, addr, "carol")
	expectNoEvent(t, carol2, 300*time.Millisecond)
	// Direct messages are stored again.
	if res := sendRaw(t, bob, sendReq{To: "dave", Text: "after", ClientMsgID: "m4"}); res.Status != StatusQueued {
		t.Fatalf("dm after recovery: %+v, want queued", res)
	}
	sw.waitPending(t, "dave", 1)
	dave := sw.dial(t, addr, "dave")
	if ev := receiveMessage(t, dave); ev.Text != "after" || ev.From != "bob" {
		t.Fatalf("dave got %+v, want only the message sent after recovery", ev)
	}
	expectNoEvent(t, dave, 300*time.Millisecond)
	// bob's confirmation from the outage is applied when his session ends.
	bob.Close()
	sw.waitPending(t, "bob", 0)
	// alice stays refused: the handshake sees the revocation.
	c, err := Dial(ctx, addr, sw.users["alice"])
	if err == nil {
		c.Close()
		t.Fatal("revoked alice connected")
	}
	if !errors.As(err, &re) || re.Code != CodeCertificateRejected {
		t.Fatalf("revoked alice: %v, want %s", err, CodeCertificateRejected)
	}
}
