package chat

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testdb"
	"github.com/securechat/scca/internal/waitfor"
)

// storeBackends are the real inventories the fault tests run on: SQLite,
// and a database on each server of testdb.Servers.
var storeBackends = append([]storeBackend{
	{"sqlite", func(t *testing.T) (*certstore.Store, *certstore.Store) { return sqliteStores(t) }},
}, serverBackends("scca_chat_restart")...)

type storeBackend struct {
	name string
	open func(t *testing.T) (st, admin *certstore.Store)
}

func serverBackends(prefix string) []storeBackend {
	var bes []storeBackend
	for _, driver := range testdb.Servers {
		bes = append(bes, storeBackend{driver, func(t *testing.T) (*certstore.Store, *certstore.Store) {
			st, admin, _ := serverStores(t, driver, prefix)
			return st, admin
		}})
	}
	return bes
}

// TestRestartWithQueuedMessages: a server is shut down with direct messages
// queued in the real inventory, one of them taken and confirmed, others
// pushed but not yet taken; a new server on the same database delivers
// the rest, in order, exactly once (§12.3).
func TestRestartWithQueuedMessages(t *testing.T) {
	for _, be := range storeBackends {
		t.Run(be.name, func(t *testing.T) {
			st, admin := be.open(t)
			sw := newStoreWorld(t, st, admin, "alice", "bob")
			testRestartWithQueued(t, sw)
		})
	}
}

func testRestartWithQueued(t *testing.T, sw *storeWorld) {
	ctx := context.Background()
	addr1, srv1, _ := startServer(t, sw.serverConfig())
	alice := sw.dial(t, addr1, "alice")
	var ids []int64
	for i := range 3 {
		res := sendRaw(t, alice, sendReq{To: "bob", Text: fmt.Sprint("queued ", i), ClientMsgID: fmt.Sprint("q", i)})
		if res.Status != StatusQueued || (i > 0 && res.ID <= ids[i-1]) {
			t.Fatalf("send %d to offline bob: %+v, want queued with an increasing id", i, res)
		}
		ids = append(ids, res.ID)
	}
	bob := sw.dial(t, addr1, "bob")
	if ev := receiveMessage(t, bob); ev.ID != ids[0] {
		t.Fatalf("bob got %+v, want message %d", ev, ids[0])
	}
	if err := bob.Confirm(); err != nil { // handled
		t.Fatal(err)
	}
	// Pushed live to bob, who does not take it before the restart. (Until
	// bob's replay has finished, the message would be queued for the
	// replay to read instead: wait for the switch to live delivery.)
	waitLive(t, srv1, "bob")
	res := sendRaw(t, alice, sendReq{To: "bob", Text: "live, untaken", ClientMsgID: "q3"})
	if res.Status != StatusDelivered {
		t.Fatalf("send to online bob: %+v", res)
	}
	ids = append(ids, res.ID)
	sw.waitPending(t, "bob", 3) // the first is confirmed

	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv1.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if n := sw.pendingCount(t, "bob"); n != 3 {
		t.Fatalf("after shutdown bob has %d queued, want 3", n)
	}

	addr2, _, _ := startServer(t, sw.serverConfig()) // same database, new server
	bob2 := sw.dial(t, addr2, "bob")
	for i, want := range []string{"queued 1", "queued 2", "live, untaken"} {
		ev := receiveMessage(t, bob2)
		if ev.ID != ids[i+1] || ev.Text != want || ev.From != "alice" {
			t.Fatalf("after restart bob got %+v, want %d %q from alice", ev, ids[i+1], want)
		}
	}
	if err := bob2.Confirm(); err != nil {
		t.Fatal(err)
	}
	sw.waitPending(t, "bob", 0)
	bob2.Close()
	bob3 := sw.dial(t, addr2, "bob")
	expectNoEvent(t, bob3, 300*time.Millisecond)
}

// killConn is a client's connection that dies on demand in the middle of
// its next write: after half of it (killHalf), or right after all of it,
// before the response can be read (killAfter). Closing the socket is what
// the kernel does for a killed process.
type killConn struct {
	net.Conn
	mu   sync.Mutex
	mode int
}

const (
	killNone = iota
	killHalf
	killAfter
)

func (k *killConn) arm(mode int) {
	k.mu.Lock()
	k.mode = mode
	k.mu.Unlock()
}

func (k *killConn) Write(b []byte) (int, error) {
	k.mu.Lock()
	mode := k.mode
	k.mu.Unlock()
	switch mode {
	case killHalf:
		n, _ := k.Conn.Write(b[:len(b)/2])
		k.Conn.Close()
		return n, net.ErrClosed
	case killAfter:
		n, err := k.Conn.Write(b)
		k.Conn.Close()
		return n, err
	}
	return k.Conn.Write(b)
}

func (sw *storeWorld) dialKillable(t *testing.T, addr, name string) (*Conn, *killConn) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	kc := &killConn{Conn: raw}
	c, err := Client(kc, sw.users[name])
	if err != nil {
		raw.Close()
		t.Fatalf("handshake as %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, kc
}

// TestClientKilledMidMessageRealStore: a client dies halfway through
// writing a direct message (nothing is stored, the server and the other
// sessions go on), and another dies right after writing one, before its
// answer (the message is stored once; the retry is recognised as a
// duplicate by the real store, and the recipient gets it once).
func TestClientKilledMidMessageRealStore(t *testing.T) {
	for _, be := range storeBackends {
		t.Run(be.name, func(t *testing.T) {
			st, admin := be.open(t)
			testClientKilled(t, newStoreWorld(t, st, admin, "alice", "bob", "carol"))
		})
	}
}

func testClientKilled(t *testing.T, sw *storeWorld) {
	ctx := context.Background()
	addr, _, _ := startServer(t, sw.serverConfig())
	carol := sw.dial(t, addr, "carol")
	alice, kc := sw.dialKillable(t, addr, "alice")
	for _, c := range []*Conn{carol, alice} {
		if _, err := c.Join(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	if ev := receive(t, carol); ev.Kind != EventJoin || ev.From != "alice" {
		t.Fatalf("carol got %+v", ev)
	}

	kc.arm(killHalf)
	if _, err := alice.SendTo(ctx, "bob", "cut in half"); err == nil {
		t.Fatal("send over a connection killed mid-frame succeeded")
	}
	// The server ended alice's session (she left the room) and stored nothing.
	if ev := receive(t, carol); ev.Kind != EventLeave || ev.From != "alice" {
		t.Fatalf("carol got %+v, want alice's leave", ev)
	}
	if n := sw.pendingCount(t, "bob"); n != 0 {
		t.Fatalf("a half-written message was stored (%d)", n)
	}
	if res, err := carol.SendTo(ctx, "bob", "from carol"); err != nil || res.Status != StatusQueued {
		t.Fatalf("carol after alice's death: %+v, %v", res, err)
	}

	// Killed after the whole record, before the answer: it was committed.
	alice2, kc2 := sw.dialKillable(t, addr, "alice")
	kc2.arm(killAfter)
	req := sendReq{To: "bob", Text: "did it arrive?", ClientMsgID: "k1"}
	var res sentBody
	if err := alice2.request(ctx, typeSend, marshal(req), typeSent, &res); err == nil {
		t.Fatalf("killed client read an answer %+v", res)
	}
	sw.waitPending(t, "bob", 2)
	alice3 := sw.dial(t, addr, "alice")
	if res := sendRaw(t, alice3, req); res.Status != StatusDuplicate {
		t.Fatalf("retry after the kill: %+v, want %s", res, StatusDuplicate)
	}
	if _, err := alice3.Who(ctx, ""); err != nil {
		t.Fatalf("server unhealthy after the kills: %v", err)
	}
	bob := sw.dial(t, addr, "bob")
	for _, want := range []string{"from carol", "did it arrive?"} {
		if ev := receiveMessage(t, bob); ev.Text != want {
			t.Fatalf("bob got %+v, want %q", ev, want)
		}
	}
	if err := bob.Confirm(); err != nil {
		t.Fatal(err)
	}
	sw.waitPending(t, "bob", 0)
}

// waitLive waits until every session of cn has finished replaying its
// queue and takes direct messages live (§12.3).
func waitLive(t testing.TB, srv *Server, cn string) {
	t.Helper()
	live := func() bool {
		srv.hub.mu.RLock()
		defer srv.hub.mu.RUnlock()
		for m := range srv.hub.byCN[cn] {
			m.dm.Lock()
			l := m.live
			m.dm.Unlock()
			if !l {
				return false
			}
		}
		return len(srv.hub.byCN[cn]) > 0
	}
	waitfor.Condition(t, fmt.Sprintf("the sessions of %s to switch to live delivery", cn), waitfor.HangBound, live)
}
