package certstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freshStore is runConformance's constructor: a migrated store on a new
// database, its clock, and its URL.
type freshStore func(t *testing.T) (*Store, *fakeClock, string)

// runMessageConformance adds the message queue and revocation feed to the
// conformance suite.
func runMessageConformance(t *testing.T, fresh freshStore) {
	t.Run("queue round-trips, pages and acknowledges", func(t *testing.T) { testQueueRoundTrip(t, fresh) })
	t.Run("queue bound is all or nothing", func(t *testing.T) { testQueueFull(t, fresh) })
	t.Run("queue refuses duplicates and bad messages", func(t *testing.T) { testQueueRefusals(t, fresh) })
	t.Run("queue bound holds under concurrency", func(t *testing.T) { testQueueConcurrent(t, fresh) })
	t.Run("queue survives reopening", func(t *testing.T) { testQueueReopen(t, fresh) })
	t.Run("revocation feed", func(t *testing.T) { testRevocationFeed(t, fresh) })
	t.Run("messages migration rolls back", func(t *testing.T) { testMessagesMigrationDown(t, fresh) })
	runQuotaConformance(t, fresh)
}

func msg(recipient, msgID string) QueuedMessage {
	return QueuedMessage{Recipient: recipient, Sender: "alice", MsgID: msgID, Body: []byte("body of " + msgID)}
}

func mustEnqueue(t *testing.T, s *Store, limit int, msgs ...QueuedMessage) []int64 {
	t.Helper()
	ids, err := s.Enqueue(context.Background(), msgs, QueueLimits{PerRecipient: limit})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if len(ids) != len(msgs) {
		t.Fatalf("Enqueue returned %d ids for %d messages", len(ids), len(msgs))
	}
	return ids
}

func pendingIDs(t *testing.T, s *Store, recipient string, after int64, limit int) []int64 {
	t.Helper()
	got, err := s.Pending(context.Background(), recipient, after, limit)
	if err != nil {
		t.Fatalf("Pending(%q): %v", recipient, err)
	}
	var ids []int64
	for _, m := range got {
		ids = append(ids, m.ID)
	}
	return ids
}

func wantCount(t *testing.T, s *Store, recipient string, want int64) {
	t.Helper()
	if n, err := s.PendingCount(context.Background(), recipient); err != nil || n != want {
		t.Errorf("PendingCount(%q) = %d, %v; want %d", recipient, n, err, want)
	}
}

func testQueueRoundTrip(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, clk, _ := fresh(t)
	big := bytes.Repeat([]byte{0, 0xff, 'x'}, 70<<10/3) // binary, over 64 KiB (a TEXT or BLOB would truncate)
	first := QueuedMessage{Recipient: "bob", Sender: "alice", Room: "ops", MsgID: "m1", Body: big,
		SentAt: time.Date(2030, 1, 2, 3, 4, 5, 678901234, time.FixedZone("Z", 7200))}
	ids := mustEnqueue(t, s, 100, first, msg("Bob", "m1"), msg("bob", "m2"), msg("carol", "m1"))
	ids = append(ids, mustEnqueue(t, s, 100, msg("bob", "m3"))...)
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatalf("ids %v are not strictly increasing", ids)
	}

	got, err := s.Pending(ctx, "bob", 0, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("Pending(bob) = %d messages, %v; want 3", len(got), err)
	}
	want := first
	want.ID, want.SentAt = ids[0], dbTime(first.SentAt)
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
	if got[0].SentAt.Location() != time.UTC {
		t.Errorf("SentAt %v is not UTC", got[0].SentAt)
	}
	if got[1].MsgID != "m2" || got[1].Room != "" || !got[1].SentAt.Equal(dbTime(clk.Now())) {
		t.Errorf("defaulted message = %+v; want room \"\" and SentAt now", got[1])
	}
	if ids := pendingIDs(t, s, "Bob", 0, 10); !slices.Equal(ids, []int64{ids[0]}) || len(ids) != 1 {
		t.Errorf("Pending(Bob) = %v; names are case-sensitive, want one message", ids)
	}

	// Paging by afterID.
	if page := pendingIDs(t, s, "bob", 0, 2); !slices.Equal(page, []int64{ids[0], ids[2]}) {
		t.Errorf("page 1 = %v, want %v", page, []int64{ids[0], ids[2]})
	}
	if page := pendingIDs(t, s, "bob", ids[2], 2); !slices.Equal(page, []int64{ids[4]}) {
		t.Errorf("page 2 = %v, want %v", page, []int64{ids[4]})
	}
	if page := pendingIDs(t, s, "bob", ids[4], 2); len(page) != 0 {
		t.Errorf("page 3 = %v, want empty", page)
	}
	if _, err := s.Pending(ctx, "bob", 0, 0); err == nil {
		t.Error("Pending with limit 0 succeeded")
	}

	// Acknowledging removes only that recipient's rows up to the id.
	wantCount(t, s, "bob", 3)
	if n, err := s.AckDelivered(ctx, "bob", ids[2]); err != nil || n != 2 {
		t.Errorf("AckDelivered(bob, %d) = %d, %v; want 2", ids[2], n, err)
	}
	if n, err := s.AckDelivered(ctx, "bob", ids[2]); err != nil || n != 0 {
		t.Errorf("repeated AckDelivered = %d, %v; want 0", n, err)
	}
	if n, err := s.AckDelivered(ctx, "nobody", 1<<40); err != nil || n != 0 {
		t.Errorf("AckDelivered(nobody) = %d, %v; want 0", n, err)
	}
	if rest := pendingIDs(t, s, "bob", 0, 10); !slices.Equal(rest, []int64{ids[4]}) {
		t.Errorf("after ack, Pending(bob) = %v, want %v", rest, []int64{ids[4]})
	}
	wantCount(t, s, "bob", 1)
	wantCount(t, s, "Bob", 1)
	wantCount(t, s, "carol", 1)
	wantCount(t, s, "nobody", 0)
}

func testQueueFull(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, _ := fresh(t)
	const limit = 3
	mustEnqueue(t, s, limit, msg("bob", "b1"), msg("bob", "b2"), msg("carol", "c1"))

	// A fan-out to four recipients fails as a whole because one is full.
	fanout := []QueuedMessage{msg("dave", "f"), msg("bob", "f"), msg("carol", "f"), msg("erin", "f")}
	mustEnqueue(t, s, limit, msg("bob", "b3"))
	_, err := s.Enqueue(ctx, fanout, QueueLimits{PerRecipient: limit})
	var full *QueueFullError
	if !errors.Is(err, ErrQueueFull) || !errors.As(err, &full) {
		t.Fatalf("Enqueue past the bound = %v, want ErrQueueFull", err)
	}
	if full.Recipient != "bob" || full.Queued != 3 || full.Adding != 1 || full.Limit != limit {
		t.Errorf("QueueFullError = %+v, want bob with 3 queued, adding 1, limit 3", full)
	}
	for r, n := range map[string]int64{"bob": 3, "carol": 1, "dave": 0, "erin": 0} {
		wantCount(t, s, r, n)
	}

	// One call adding more than the bound for a single recipient fails too.
	_, err = s.Enqueue(ctx, []QueuedMessage{msg("frank", "1"), msg("frank", "2"), msg("frank", "3"), msg("frank", "4")}, QueueLimits{PerRecipient: limit})
	if !errors.Is(err, ErrQueueFull) {
		t.Errorf("4 messages into an empty queue of 3 = %v, want ErrQueueFull", err)
	}
	wantCount(t, s, "frank", 0)

	// Exactly at the bound is allowed; acknowledging frees space again.
	mustEnqueue(t, s, limit, msg("carol", "c2"), msg("carol", "c3"))
	if _, err := s.Enqueue(ctx, []QueuedMessage{msg("carol", "c4")}, QueueLimits{PerRecipient: limit}); !errors.Is(err, ErrQueueFull) {
		t.Errorf("carol past the bound = %v, want ErrQueueFull", err)
	}
	pending := pendingIDs(t, s, "bob", 0, 10)
	if n, err := s.AckDelivered(ctx, "bob", pending[1]); err != nil || n != 2 {
		t.Fatalf("AckDelivered = %d, %v", n, err)
	}
	if _, err := s.Enqueue(ctx, fanout[:2], QueueLimits{PerRecipient: limit}); err != nil {
		t.Errorf("fan-out after bob's ack = %v, want success", err)
	}
	wantCount(t, s, "bob", 2)
	wantCount(t, s, "dave", 1)
	if _, err := s.Enqueue(ctx, fanout, QueueLimits{PerRecipient: 0}); err == nil {
		t.Error("Enqueue with bound 0 succeeded")
	}
}

func testQueueRefusals(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, _ := fresh(t)
	ids := mustEnqueue(t, s, 10, msg("bob", "dup"))

	// A retried Enqueue of a stored message changes nothing, even when
	// batched with new ones.
	for name, batch := range map[string][]QueuedMessage{
		"retry":          {msg("bob", "dup")},
		"retry in batch": {msg("carol", "new"), msg("bob", "dup")},
		"twice in batch": {msg("dave", "x"), msg("dave", "x")},
	} {
		if _, err := s.Enqueue(ctx, batch, QueueLimits{PerRecipient: 10}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("%s: Enqueue = %v, want ErrDuplicate", name, err)
		}
	}
	long := fmt.Sprintf("%065d", 0)
	bad := map[string]func(*QueuedMessage){
		"no recipient":     func(m *QueuedMessage) { m.Recipient = "" },
		"no sender":        func(m *QueuedMessage) { m.Sender = "" },
		"no message id":    func(m *QueuedMessage) { m.MsgID = "" },
		"long recipient":   func(m *QueuedMessage) { m.Recipient = long },
		"long sender":      func(m *QueuedMessage) { m.Sender = long },
		"long room":        func(m *QueuedMessage) { m.Room = long },
		"long message id":  func(m *QueuedMessage) { m.MsgID = long },
		"invalid UTF-8":    func(m *QueuedMessage) { m.Recipient = "b\xffb" },
		"body over limit":  func(m *QueuedMessage) { m.Body = make([]byte, MaxBodySize+1) },
		"bad one in batch": func(m *QueuedMessage) { m.MsgID = "" },
	}
	for name, mutate := range bad {
		m := msg("erin", "e1")
		mutate(&m)
		if _, err := s.Enqueue(ctx, []QueuedMessage{msg("carol", "ok"), m}, QueueLimits{PerRecipient: 10}); err == nil {
			t.Errorf("%s: Enqueue succeeded", name)
		}
	}
	// 64 characters of 4-byte UTF-8 fit the VARCHAR(64) columns.
	wide := QueuedMessage{Recipient: string(slices.Repeat([]rune{'😀'}, 64)), Sender: "s", MsgID: "w"}
	wideIDs := mustEnqueue(t, s, 10, wide)
	got, err := s.Pending(ctx, wide.Recipient, 0, 1)
	if err != nil || len(got) != 1 || got[0].Recipient != wide.Recipient || got[0].Body == nil || len(got[0].Body) != 0 {
		t.Errorf("Pending(wide) = %+v, %v; want the message with an empty body", got, err)
	}
	for r, n := range map[string]int64{"bob": 1, "carol": 0, "dave": 0, "erin": 0} {
		wantCount(t, s, r, n)
	}
	if wideIDs[0] <= ids[0] {
		t.Errorf("id %d after %d", wideIDs[0], ids[0])
	}
	// The refused Enqueues left no queue reservation behind.
	mustEnqueue(t, s, 1, msg("carol", "c1"))
	mustEnqueue(t, s, 1, msg("dave", "d1"))
}

func testQueueConcurrent(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, url := fresh(t)
	handles := []*Store{s, openAt(t, url, nil)}
	const limit, workers, each = 12, 6, 6
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Fan-outs to overlapping recipient sets, listed in different
				// orders, contend for the same queue rows.
				rs := [][]string{{"bob", "carol"}, {"carol", "bob"}, {"bob"}}[(w+i)%3]
				var batch []QueuedMessage
				for _, r := range rs {
					batch = append(batch, msg(r, fmt.Sprintf("w%d-%d", w, i)))
				}
				_, err := handles[w%2].Enqueue(ctx, batch, QueueLimits{PerRecipient: limit})
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrQueueFull):
					refused.Add(1)
				default:
					t.Errorf("Enqueue: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if refused.Load() == 0 || accepted.Load()+refused.Load() != workers*each {
		t.Errorf("accepted %d, refused %d of %d; want some refused", accepted.Load(), refused.Load(), workers*each)
	}
	wantCount(t, s, "bob", limit) // bob is in every batch, so it fills exactly
	if n, err := s.PendingCount(ctx, "carol"); err != nil || n > limit {
		t.Errorf("PendingCount(carol) = %d, %v; want at most %d", n, err, limit)
	}
	if ids := pendingIDs(t, s, "bob", 0, 100); len(ids) != limit || !slices.IsSorted(ids) {
		t.Errorf("Pending(bob) = %v, want %d ids in order", ids, limit)
	}
	// The bound is checked against message_queues' count; it must agree
	// with the rows actually queued.
	for _, r := range []string{"bob", "carol"} {
		var queued, n int64
		if err := s.db.QueryRowContext(ctx, lockQueue, r).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if n, _ = s.PendingCount(ctx, r); queued != n {
			t.Errorf("%s: message_queues says %d queued, messages holds %d", r, queued, n)
		}
	}
}

func testQueueReopen(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, url := fresh(t)
	ids := mustEnqueue(t, s, 10, msg("bob", "1"), msg("bob", "2"), msg("carol", "1"))
	before, err := s.Pending(ctx, "bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.AckDelivered(ctx, "carol", ids[2]); err != nil || n != 1 {
		t.Fatalf("AckDelivered(carol) = %d, %v", n, err)
	}
	s.Close()

	s2 := openAt(t, url, nil)
	after, err := s2.Pending(ctx, "bob", 0, 10)
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("after reopening, Pending(bob) = %+v, %v; want %+v", after, err, before)
	}
	// Acknowledged ids are never handed out again, even when the newest
	// row was deleted before the database was closed.
	next := mustEnqueue(t, s2, 10, msg("carol", "2"))
	if next[0] <= ids[2] {
		t.Errorf("id after reopening = %d, want above %d", next[0], ids[2])
	}
	wantCount(t, s2, "bob", 2)
}

func testRevocationFeed(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, clk, url := fresh(t)
	if id, err := s.LastAuditID(ctx); err != nil || id != 0 {
		t.Fatalf("LastAuditID of empty log = %d, %v", id, err)
	}
	if got, err := s.RevocationsSince(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("RevocationsSince on empty log = %v, %v", got, err)
	}
	for i := range 4 {
		mustInsert(t, s, testRecord(i, clk.Now())) // audit 1..4: issues
	}
	revoke := func(st *Store, serial string) {
		t.Helper()
		clk.Advance(time.Second)
		if _, err := st.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: serial}); err != nil {
			t.Fatal(err)
		}
	}
	revoke(s, "1001") // audit 5
	mark, err := s.LastAuditID(ctx)
	if err != nil || mark != 5 {
		t.Fatalf("LastAuditID = %d, %v; want 5", mark, err)
	}
	other := openAt(t, url, clk.Now) // another process's revocations count too
	revoke(other, "1003")            // audit 6
	mustInsert(t, other, testRecord(9, clk.Now()))
	revoke(other, "1000") // audit 8
	revoke(s, "1009")     // audit 9

	got, err := s.RevocationsSince(ctx, mark, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []RevocationEvent{
		{AuditID: 6, IssuerKeyID: "ab12", Serial: "1003", At: dbTime(clk.Now().Add(-2 * time.Second))},
		{AuditID: 8, IssuerKeyID: "ab12", Serial: "1000", At: dbTime(clk.Now().Add(-time.Second))},
		{AuditID: 9, IssuerKeyID: "ab12", Serial: "1009", At: dbTime(clk.Now())},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RevocationsSince(%d) =\n %+v\nwant\n %+v", mark, got, want)
	}
	if page, err := s.RevocationsSince(ctx, 0, 2); err != nil || len(page) != 2 || page[0].AuditID != 5 || page[1].AuditID != 6 {
		t.Errorf("RevocationsSince(0, limit 2) = %+v, %v; want audit entries 5 and 6", page, err)
	}
	if page, err := s.RevocationsSince(ctx, 9, 10); err != nil || len(page) != 0 {
		t.Errorf("RevocationsSince(head) = %+v, %v; want none", page, err)
	}
	if id, err := s.LastAuditID(ctx); err != nil || id != 9 {
		t.Errorf("LastAuditID = %d, %v; want 9", id, err)
	}
	if _, err := s.RevocationsSince(ctx, 0, 0); err == nil {
		t.Error("RevocationsSince with limit 0 succeeded")
	}
}

// testMessagesMigrationDown checks that migration 3 can be rolled back and
// applied again, and that rolling back drops what it created.
func testMessagesMigrationDown(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, _ := fresh(t)
	mustEnqueue(t, s, 10, msg("bob", "1"))
	p, err := s.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, messagesMigration-1); err != nil {
		t.Fatalf("DownTo(%d): %v", messagesMigration-1, err)
	}
	if err := s.CheckSchema(ctx); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("CheckSchema after rollback = %v, want ErrSchemaVersion", err)
	}
	for _, table := range []string{"messages", "message_queues"} {
		if n := tableCount(t, s, table); n != 0 {
			t.Errorf("table %s still exists after rollback", table)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after rollback: %v", err)
	}
	wantCount(t, s, "bob", 0)
	mustEnqueue(t, s, 1, msg("bob", "1"))
}

// messagesMigration is the version of 00002_messages.sql.
const messagesMigration = 2

func tableCount(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), s.d.tableExists, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
