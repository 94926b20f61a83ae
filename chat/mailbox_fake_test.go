package chat

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/testpki"
)

// memStore is an in-memory Mailbox and RevocationFeed with the store's
// semantics (all-or-nothing Enqueue, bound, duplicates, cumulative ack;
// the quotas are tested on the real store, quota_test.go),
// and a switch that makes every call fail as a database outage would.
// Tests against the real *certstore.Store are in cmd/scca (testscript).
type memStore struct {
	mu       sync.Mutex
	down     bool
	nextID   int64
	queued   []certstore.QueuedMessage
	revs     []certstore.RevocationEvent
	enqueues int
	// headReads counts LastAuditID answers (the revocation watcher has
	// read the feed's head once it is 1); failedFeedReads counts feed
	// calls refused while down.
	headReads, failedFeedReads int
	// ackGate, when set, holds every AckDelivered until it is closed: a
	// store that is slow to take confirmations.
	ackGate chan struct{}
}

var (
	_       Mailbox        = (*memStore)(nil)
	_       RevocationFeed = (*memStore)(nil)
	errDown                = errors.New("database is down")
)

func (m *memStore) setDown(v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = v
}

func (m *memStore) Enqueue(_ context.Context, msgs []certstore.QueuedMessage, lim certstore.QueueLimits) ([]int64, error) {
	limit := lim.PerRecipient
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	m.enqueues++
	for _, msg := range msgs {
		n := 0
		for _, q := range m.queued {
			if q.Recipient == msg.Recipient {
				n++
				if q.MsgID == msg.MsgID {
					return nil, certstore.ErrDuplicate
				}
			}
		}
		if n+1 > limit {
			return nil, &certstore.QueueFullError{Recipient: msg.Recipient, Queued: int64(n), Adding: 1, Limit: limit}
		}
	}
	ids := make([]int64, len(msgs))
	for i, msg := range msgs {
		m.nextID++
		msg.ID, ids[i] = m.nextID, m.nextID
		m.queued = append(m.queued, msg)
	}
	return ids, nil
}

func (m *memStore) Pending(_ context.Context, recipient string, after int64, limit int) ([]certstore.QueuedMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	var out []certstore.QueuedMessage
	for _, q := range m.queued {
		if q.Recipient == recipient && q.ID > after && len(out) < limit {
			out = append(out, q)
		}
	}
	return out, nil
}

func (m *memStore) AckDelivered(_ context.Context, recipient string, upto int64) (int64, error) {
	if m.ackGate != nil {
		<-m.ackGate
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, errDown
	}
	n := len(m.queued)
	m.queued = slices.DeleteFunc(m.queued, func(q certstore.QueuedMessage) bool {
		return q.Recipient == recipient && q.ID <= upto
	})
	return int64(n - len(m.queued)), nil
}

func (m *memStore) count(recipient string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, q := range m.queued {
		if q.Recipient == recipient {
			n++
		}
	}
	return n
}

func (m *memStore) LastAuditID(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		m.failedFeedReads++
		return 0, errDown
	}
	m.headReads++
	return int64(len(m.revs)), nil
}

func (m *memStore) RevocationsSince(_ context.Context, after int64, limit int) ([]certstore.RevocationEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		m.failedFeedReads++
		return nil, errDown
	}
	var out []certstore.RevocationEvent
	for _, r := range m.revs {
		if r.AuditID > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

// feedCounts returns headReads and failedFeedReads.
func (m *memStore) feedCounts() (headReads, failed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.headReads, m.failedFeedReads
}

// waitWatching waits until the server's revocation watcher has read the
// feed's head: a revocation recorded from then on ends live sessions (one
// recorded before is the handshake's business).
func (m *memStore) waitWatching(t *testing.T) {
	t.Helper()
	waitFor(t, func() bool { n, _ := m.feedCounts(); return n > 0 })
}

func (m *memStore) revoke(c *x509.Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := certKeyOf(c)
	m.revs = append(m.revs, certstore.RevocationEvent{AuditID: int64(len(m.revs) + 1),
		IssuerKeyID: k.issuerKeyID, Serial: k.serial, At: time.Now()})
}

// msgWorld adds named users to a world, all known to the server's inventory.
type msgWorld struct {
	*world
	store *memStore
	users map[string]ClientConfig
}

func newMsgWorld(t testing.TB, names ...string) *msgWorld {
	t.Helper()
	mw := &msgWorld{world: newWorld(t), store: &memStore{}, users: make(map[string]ClientConfig)}
	for _, n := range names {
		chain, key := mw.CA.Issue(t, n, testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
		mw.Inv.Add(chain[0])
		cfg := mw.clientConfig()
		cfg.Chain, cfg.Key, cfg.ClientID = chain, key, n
		mw.users[n] = cfg
	}
	return mw
}

func (mw *msgWorld) serverConfig() ServerConfig {
	cfg := mw.world.serverConfig()
	cfg.Mailbox, cfg.Revocations = mw.store, mw.store
	cfg.RevocationPoll = 50 * time.Millisecond
	return cfg
}

func (mw *msgWorld) dial(t testing.TB, addr, name string) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, mw.users[name])
	if err != nil {
		t.Fatalf("dial as %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive waits up to 5 s for the next event.
func receive(t testing.TB, c *Conn) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return ev
}

// receiveMessage skips presence events up to the next message.
func receiveMessage(t testing.TB, c *Conn) Event {
	t.Helper()
	for {
		if ev := receive(t, c); ev.Kind == EventMessage {
			return ev
		}
	}
}
