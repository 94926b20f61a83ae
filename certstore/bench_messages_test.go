package certstore

import (
	"context"
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkEnqueue measures one message to one offline recipient, and one
// message fanned out to 100 recipients (one transaction), with a 1 KiB body.
func BenchmarkEnqueue(b *testing.B) {
	body := make([]byte, 1024)
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			s := benchStore(b, be)
			ctx := context.Background()
			for _, fanout := range []int{1, 100} {
				b.Run(fmt.Sprintf("recipients=%d", fanout), func(b *testing.B) {
					batch := make([]QueuedMessage, fanout)
					n := 0
					for b.Loop() {
						n++
						for i := range batch {
							batch[i] = QueuedMessage{Recipient: "user" + strconv.Itoa(i), Sender: "alice",
								MsgID: fmt.Sprintf("f%d-%d", fanout, n), Body: body}
						}
						if _, err := s.Enqueue(ctx, batch, QueueLimits{PerRecipient: 1 << 30}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkRevocationsSince measures one poll of the revocation feed that
// finds nothing new, on an audit log of 10,000 issues and 1,000 revocations.
func BenchmarkRevocationsSince(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			s := benchStore(b, be)
			ctx := context.Background()
			seedAudit(b, s, 10000, 1000)
			head, err := s.LastAuditID(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if got, err := s.RevocationsSince(ctx, head, 100); err != nil || len(got) != 0 {
					b.Fatalf("RevocationsSince = %d, %v", len(got), err)
				}
			}
		})
	}
}

// seedAudit writes audit rows directly (no hash chain): issues, then
// revocations spread among them.
func seedAudit(b *testing.B, s *Store, n, revocations int) {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	for i := 1; i <= n; i++ {
		action := ActionIssue
		if i%(n/revocations) == 0 {
			action = ActionRevoke
		}
		if _, err := tx.ExecContext(ctx, insertAudit, i, timeArg(s.now()), "bench", action, "ab12",
			strconv.Itoa(i), "{}", genesisHash, genesisHash); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
