package certstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// runQuotaConformance adds the per-sender and total quotas of the message
// queue to the conformance suite.
func runQuotaConformance(t *testing.T, fresh freshStore) {
	t.Run("sender quota in messages and bytes", func(t *testing.T) { testSenderQuota(t, fresh) })
	t.Run("total quota in messages and bytes", func(t *testing.T) { testTotalQuota(t, fresh) })
	t.Run("quotas hold under concurrent senders", func(t *testing.T) { testQuotaConcurrent(t, fresh) })
	t.Run("quota migration counts queued messages", func(t *testing.T) { testQuotaMigration(t, fresh) })
}

// from is a message from sender to recipient with a body of n bytes.
func from(sender, recipient, msgID string, n int) QueuedMessage {
	return QueuedMessage{Recipient: recipient, Sender: sender, MsgID: msgID, Body: []byte(strings.Repeat("x", n))}
}

// wantQuota checks that err is a *QuotaError of scope, unit and limit.
func wantQuota(t *testing.T, err error, scope, sender, unit string, queued, limit int64) {
	t.Helper()
	var qe *QuotaError
	if !errors.Is(err, ErrQuotaExceeded) || !errors.As(err, &qe) {
		t.Fatalf("Enqueue = %v, want ErrQuotaExceeded", err)
	}
	if qe.Scope != scope || qe.Sender != sender || qe.Unit != unit || qe.Queued != queued || qe.Limit != limit {
		t.Errorf("QuotaError = %+v, want %s %q %s queued %d limit %d", qe, scope, sender, unit, queued, limit)
	}
}

func testSenderQuota(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, _ := fresh(t)
	lim := QueueLimits{PerRecipient: 100, PerSender: 3, PerSenderBytes: 100}
	enq := func(msgs ...QueuedMessage) error { _, err := s.Enqueue(ctx, msgs, lim); return err }

	// Three messages to three recipients fill alice's message quota.
	if err := enq(from("alice", "bob", "1", 10), from("alice", "carol", "1", 10), from("alice", "dave", "1", 10)); err != nil {
		t.Fatal(err)
	}
	wantQuota(t, enq(from("alice", "erin", "1", 1)), QuotaSender, "alice", "messages", 3, 3)
	wantCount(t, s, "erin", 0)
	// Another sender is not affected; a batch fails as a whole for one sender.
	err := enq(from("mallory", "bob", "m", 1), from("alice", "bob", "2", 1))
	wantQuota(t, err, QuotaSender, "alice", "messages", 3, 3)
	wantCount(t, s, "bob", 1)
	if err := enq(from("mallory", "bob", "m", 99)); err != nil {
		t.Fatalf("another sender: %v", err)
	}
	// Bytes: mallory has 99 of 100; two more bytes are over, one fits.
	wantQuota(t, enq(from("mallory", "carol", "m2", 2)), QuotaSender, "mallory", "bytes", 99, 100)
	if err := enq(from("mallory", "carol", "m2", 1)); err != nil {
		t.Fatalf("exactly at the byte quota: %v", err)
	}
	// Acknowledging frees the sender's quota, in messages and bytes.
	if n, err := s.AckDelivered(ctx, "bob", 1<<40); err != nil || n != 2 {
		t.Fatalf("AckDelivered(bob) = %d, %v", n, err)
	}
	if err := enq(from("alice", "erin", "1", 1)); err != nil {
		t.Errorf("alice after bob's ack: %v", err)
	}
	if err := enq(from("mallory", "erin", "m3", 99)); err != nil {
		t.Errorf("mallory after bob's ack: %v", err)
	}
	checkUsage(t, s)
	for _, bad := range []QueueLimits{{PerRecipient: 1, PerSender: -1}, {PerRecipient: 1, TotalBytes: -1}} {
		if _, err := s.Enqueue(ctx, []QueuedMessage{from("x", "y", "z", 1)}, bad); err == nil {
			t.Errorf("Enqueue with %+v succeeded", bad)
		}
	}
}

func testTotalQuota(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, _ := fresh(t)
	lim := QueueLimits{PerRecipient: 100, PerSender: 100, Total: 4, TotalBytes: 50}
	enq := func(msgs ...QueuedMessage) error { _, err := s.Enqueue(ctx, msgs, lim); return err }
	if err := enq(from("alice", "bob", "1", 10), from("bob", "alice", "1", 10), from("carol", "bob", "c1", 10)); err != nil {
		t.Fatal(err)
	}
	wantQuota(t, enq(from("dave", "bob", "d1", 21)), QuotaTotal, "", "bytes", 30, 50)
	if err := enq(from("dave", "bob", "d1", 20)); err != nil {
		t.Fatalf("exactly at the total: %v", err)
	}
	wantQuota(t, enq(from("erin", "bob", "e1", 0)), QuotaTotal, "", "messages", 4, 4)
	wantCount(t, s, "bob", 3)
	// A refused Enqueue left no reservation: the sender's count is as before.
	if _, err := s.Enqueue(ctx, []QueuedMessage{from("erin", "bob", "e2", 0)}, QueueLimits{PerRecipient: 100, PerSender: 1}); err != nil {
		t.Errorf("erin's first message without a total quota: %v", err)
	}
	if _, err := s.AckDelivered(ctx, "bob", 1<<40); err != nil {
		t.Fatal(err)
	}
	if err := enq(from("erin", "bob", "e3", 29)); err != nil {
		t.Errorf("after bob's ack: %v", err)
	}
	checkUsage(t, s)
}

func testQuotaConcurrent(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, url := fresh(t)
	handles := []*Store{s, openAt(t, url, nil)}
	const perSender, total, workers, each = 7, 12, 8, 6
	lim := QueueLimits{PerRecipient: 1000, PerSender: perSender, PerSenderBytes: 10 * perSender, Total: total, TotalBytes: 1 << 20}
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sender := []string{"alice", "bob", "carol"}[w%3]
			for i := range each {
				// Fan-outs from two senders to overlapping recipients, in
				// different orders, contend for every kind of row.
				rs := [][]string{{"dave", "erin"}, {"erin", "dave"}, {"frank"}}[(w+i)%3]
				var batch []QueuedMessage
				for _, r := range rs {
					batch = append(batch, from(sender, r, fmt.Sprintf("w%d-%d", w, i), 10))
				}
				_, err := handles[w%2].Enqueue(ctx, batch, lim)
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrQuotaExceeded):
					refused.Add(1)
				default:
					t.Errorf("Enqueue: %v", err)
				}
			}
		})
	}
	// Acknowledgements run beside the senders and take the same rows.
	wg.Go(func() {
		for range each {
			if _, err := handles[1].AckDelivered(ctx, "frank", 1<<40); err != nil {
				t.Errorf("AckDelivered: %v", err)
			}
		}
	})
	wg.Wait()
	if refused.Load() == 0 || accepted.Load()+refused.Load() != workers*each {
		t.Errorf("accepted %d, refused %d of %d; want some refused", accepted.Load(), refused.Load(), workers*each)
	}
	got := checkUsage(t, s)
	var all usage
	for snd, u := range got {
		if u.msgs > perSender || u.bytes > 10*perSender {
			t.Errorf("%s has %+v queued, over the quota of %d messages", snd, u, perSender)
		}
		all.msgs += u.msgs
	}
	if all.msgs > total {
		t.Errorf("%d messages queued, over the total of %d", all.msgs, total)
	}
}

// testQuotaMigration rolls back the quota migration and applies it again:
// the counts are rebuilt from the messages already queued.
func testQuotaMigration(t *testing.T, fresh freshStore) {
	ctx := context.Background()
	s, _, _ := fresh(t)
	mustEnqueue(t, s, 10, from("alice", "bob", "1", 5), from("alice", "carol", "1", 7), from("bob", "carol", "2", 1))
	p, err := s.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, quotaMigration-1); err != nil {
		t.Fatalf("DownTo(%d): %v", quotaMigration-1, err)
	}
	for _, table := range []string{"message_senders", "message_totals"} {
		if n := tableCount(t, s, table); n != 0 {
			t.Errorf("table %s still exists after rollback", table)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after rollback: %v", err)
	}
	got := checkUsage(t, s)
	if got["alice"] != (usage{2, 12}) || got["bob"] != (usage{1, 1}) {
		t.Errorf("rebuilt usage = %+v, want alice 2/12, bob 1/1", got)
	}
	_, err = s.Enqueue(ctx, []QueuedMessage{from("alice", "dave", "1", 1)}, QueueLimits{PerRecipient: 10, PerSender: 2})
	wantQuota(t, err, QuotaSender, "alice", "messages", 2, 2)
}

// quotaMigration is the version of 00004_message_quotas.sql.
const quotaMigration = 4

// checkUsage checks message_senders and message_totals against the rows
// queued, and returns the per-sender usage.
func checkUsage(t *testing.T, s *Store) map[string]usage {
	t.Helper()
	ctx := context.Background()
	counted := map[string]usage{}
	rows, err := s.db.QueryContext(ctx, "SELECT sender, queued, bytes FROM message_senders")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var snd string
		var u usage
		if err := rows.Scan(&snd, &u.msgs, &u.bytes); err != nil {
			t.Fatal(err)
		}
		if u != (usage{}) {
			counted[snd] = u
		}
	}
	actual := map[string]usage{}
	var all usage
	msgs, err := s.db.QueryContext(ctx, "SELECT sender, body FROM messages")
	if err != nil {
		t.Fatal(err)
	}
	defer msgs.Close()
	for msgs.Next() {
		var snd string
		var body []byte
		if err := msgs.Scan(&snd, &body); err != nil {
			t.Fatal(err)
		}
		u := actual[snd]
		u.msgs, u.bytes = u.msgs+1, u.bytes+int64(len(body))
		actual[snd] = u
		all.msgs, all.bytes = all.msgs+1, all.bytes+int64(len(body))
	}
	if fmt.Sprint(counted) != fmt.Sprint(actual) {
		t.Errorf("message_senders = %v, messages hold %v", counted, actual)
	}
	var totals usage
	if err := s.db.QueryRowContext(ctx, selectTotals).Scan(&totals.msgs, &totals.bytes); err != nil || totals != all {
		t.Errorf("message_totals = %+v, %v; messages hold %+v", totals, err, all)
	}
	return actual
}
