package chat

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testdb"
	"github.com/securechat/scca/internal/testpki"
	"github.com/securechat/scca/internal/waitfor"
	"github.com/securechat/scca/revocation"
)

// Helpers for the fault-injection tests that run the server on the real
// inventory (*certstore.Store on SQLite, MariaDB or PostgreSQL) instead of memStore:
// the store is the server's PeerChecker (through revocation.InventoryChecker),
// Mailbox and RevocationFeed, as `scca chat server` wires it.

// storeWorld is a world whose users are recorded in a real inventory.
type storeWorld struct {
	*world
	st    *certstore.Store // what the server uses
	admin *certstore.Store // another process on the same database (e.g. `scca revoke`)
	users map[string]ClientConfig
}

func newStoreWorld(t testing.TB, st, admin *certstore.Store, names ...string) *storeWorld {
	t.Helper()
	sw := &storeWorld{world: newWorld(t), st: st, admin: admin, users: make(map[string]ClientConfig)}
	for _, n := range names {
		chain, key := sw.CA.Issue(t, n, testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
		if err := admin.Insert(context.Background(), inventoryRecord(chain[0])); err != nil {
			t.Fatal(err)
		}
		cfg := sw.clientConfig()
		cfg.Chain, cfg.Key, cfg.ClientID = chain, key, n
		sw.users[n] = cfg
	}
	return sw
}

func (sw *storeWorld) serverConfig() ServerConfig {
	cfg := sw.world.serverConfig()
	cfg.Checker = &revocation.InventoryChecker{Store: sw.st}
	cfg.Mailbox, cfg.Revocations = sw.st, sw.st
	return cfg
}

func (sw *storeWorld) dial(t testing.TB, addr, name string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, sw.users[name])
	if err != nil {
		t.Fatalf("dial as %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// revoke records name's certificate revoked, as `scca revoke` would from
// another process.
func (sw *storeWorld) revoke(t testing.TB, name string) {
	t.Helper()
	k := certKeyOf(sw.users[name].Chain[0])
	if _, err := sw.admin.Revoke(context.Background(), certstore.Revocation{IssuerKeyID: k.issuerKeyID,
		Serial: k.serial, Reason: 1, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
}

// pendingCount reads recipient's durable queue straight from the database.
func (sw *storeWorld) pendingCount(t testing.TB, recipient string) int64 {
	t.Helper()
	n, err := sw.admin.PendingCount(context.Background(), recipient)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitPending waits (up to 30 s, a hang detector) for recipient's queue to hold want messages
// (confirmations reach the store asynchronously).
func (sw *storeWorld) waitPending(t testing.TB, recipient string, want int64) {
	t.Helper()
	waitfor.Check(t, waitfor.HangBound, func() error {
		if n := sw.pendingCount(t, recipient); n != want {
			return fmt.Errorf("%s has %d queued messages, want %d", recipient, n, want)
		}
		return nil
	})
}

// sqliteStores opens a fresh SQLite inventory twice: one handle for the
// server, one for the "other process".
func sqliteStores(t testing.TB) (st, admin *certstore.Store) {
	t.Helper()
	url := testdb.SQLite(t)
	admin = openInventory(t, url)
	return openStore(t, url), admin
}

// serverStores creates a database on the server of driver ("mysql" or
// "postgres", see testdb.Server) and opens it twice: directly, and for the
// server through a proxy the test can cut.
func serverStores(t testing.TB, driver, prefix string) (st, admin *certstore.Store, p *testdb.Proxy) {
	t.Helper()
	url := testdb.Server(t, driver, prefix)
	viaProxy, p := testdb.Proxied(t, url)
	admin = openInventory(t, url)
	return openStore(t, viaProxy), admin, p
}

// openStore opens an inventory some other handle has migrated.
func openStore(t testing.TB, url string) *certstore.Store {
	t.Helper()
	st, err := certstore.Open(context.Background(), url, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sendRaw makes a send request and returns the server's sent response as
// it is on the wire, so a test can read its status and reason code.
func sendRaw(t testing.TB, c *Conn, req sendReq) sentBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res sentBody
	if err := c.request(ctx, typeSend, marshal(req), typeSent, &res); err != nil {
		t.Fatalf("send %+v: %v", req, err)
	}
	return res
}

// expectNoEvent checks nothing is pushed to c within d. The expired
// context ends c's session (Conn.Receive), so call it last on c.
func expectNoEvent(t testing.TB, c *Conn, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if ev, err := c.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %+v, %v; want nothing", ev, err)
	}
}

// feedProbe counts the revocation feed's answers, so a test can wait for
// the server's watcher to have polled (successfully or not).
type feedProbe struct {
	RevocationFeed
	ok, failed atomic.Int64
}

func (f *feedProbe) count(err error) {
	if err != nil {
		f.failed.Add(1)
	} else {
		f.ok.Add(1)
	}
}

func (f *feedProbe) LastAuditID(ctx context.Context) (int64, error) {
	id, err := f.RevocationFeed.LastAuditID(ctx)
	f.count(err)
	return id, err
}

func (f *feedProbe) RevocationsSince(ctx context.Context, after int64, limit int) ([]certstore.RevocationEvent, error) {
	evs, err := f.RevocationFeed.RevocationsSince(ctx, after, limit)
	f.count(err)
	return evs, err
}

// waitCount waits (up to 30 s, a hang detector) for counter to exceed from.
func waitCount(t testing.TB, what string, counter *atomic.Int64, from int64) {
	t.Helper()
	waitfor.Condition(t, what, waitfor.HangBound, func() bool { return counter.Load() > from })
}
