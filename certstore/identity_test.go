package certstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func clientRecord(n int, cn string, now time.Time) Record {
	r := testRecord(n, now)
	r.Type, r.CN, r.SANs = TypeClient, cn, nil
	return r
}

func TestIdentitySkeleton(t *testing.T) {
	same := [][2]string{
		{"alice", "\u0430lice"}, // Cyrillic а
		{"alice", "ALICE"},      // case
		{"alice", "ａｌｉｃｅ"},      // full width
		{"modern", "rnodern"},   // rn / m
		{"paypal", "p\u0430yp\u0430l"},
	}
	for _, p := range same {
		a, err1 := IdentitySkeleton(p[0])
		b, err2 := IdentitySkeleton(p[1])
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("skeletons of %q and %q = %q, %q (%v, %v); want equal", p[0], p[1], a, b, err1, err2)
		}
	}
	a, _ := IdentitySkeleton("alice")
	if b, _ := IdentitySkeleton("bob"); a == b {
		t.Error("alice and bob share a skeleton")
	}
	if _, err := IdentitySkeleton("bad\u0378name"); !errors.Is(err, ErrIdentityName) {
		t.Errorf("unassigned code point: err = %v, want ErrIdentityName", err)
	}
}

func testIdentity(t *testing.T, fresh func(t *testing.T) (*Store, *fakeClock, string)) {
	ctx := context.Background()
	t.Run("same or look-alike CN is refused, others pass", func(t *testing.T) {
		s, clk, _ := fresh(t)
		mustInsert(t, s, clientRecord(1, "alice", clk.Now()))
		for i, cn := range []string{"alice", "\u0430lice", "Alice"} {
			err := s.Insert(ctx, clientRecord(10+i, cn, clk.Now()))
			var ie *IdentityError
			if !errors.Is(err, ErrIdentityTaken) || !errors.As(err, &ie) || ie.HolderCN != "alice" || ie.HolderSerial != "1001" {
				t.Errorf("Insert client %q = %v, want IdentityError held by alice/1001", cn, err)
			}
		}
		mustInsert(t, s, clientRecord(2, "bob", clk.Now()))
		server := testRecord(3, clk.Now())
		server.CN = "alice"
		mustInsert(t, s, server) // a server name is not a chat identity
		if n, err := s.VerifyAudit(ctx); err != nil || n != 3 {
			t.Errorf("VerifyAudit = %d, %v; refused inserts must write nothing", n, err)
		}
	})
	t.Run("revoked or expired holders free the identity", func(t *testing.T) {
		s, clk, _ := fresh(t)
		mustInsert(t, s, clientRecord(1, "bob", clk.Now()))
		if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "1001", Reason: ReasonKeyCompromise}); err != nil {
			t.Fatal(err)
		}
		mustInsert(t, s, clientRecord(2, "bob", clk.Now()))
		short := clientRecord(3, "carol", clk.Now())
		short.NotAfter = clk.Now().Add(time.Hour)
		mustInsert(t, s, short)
		clk.Advance(2 * time.Hour)
		mustInsert(t, s, clientRecord(4, "carol", clk.Now()))
	})
	t.Run("supersede revokes the holder in the same transaction", func(t *testing.T) {
		s, clk, _ := fresh(t)
		mustInsert(t, s, clientRecord(1, "alice", clk.Now()))
		old, err := s.Supersede(ctx, clientRecord(2, "\u0430lice", clk.Now()))
		if err != nil || old == nil || old.Serial != "1001" || old.Status != StatusRevoked || derefInt(old.Reason) != ReasonSuperseded {
			t.Fatalf("Supersede = %+v, %v; want alice/1001 revoked as superseded", old, err)
		}
		got, _ := s.Get(ctx, "ab12", "1001")
		if got.Status != StatusRevoked || derefInt(got.Reason) != ReasonSuperseded {
			t.Errorf("old certificate = %+v, want revoked (superseded)", got)
		}
		if err := s.Insert(ctx, clientRecord(3, "alice", clk.Now())); !errors.Is(err, ErrIdentityTaken) {
			t.Errorf("Insert alice after supersede = %v, want ErrIdentityTaken (held by the look-alike)", err)
		}
		if old, err := s.Supersede(ctx, clientRecord(4, "dave", clk.Now())); err != nil || old != nil {
			t.Errorf("Supersede of a free identity = %+v, %v; want nil, nil", old, err)
		}
		if n, err := s.VerifyAudit(ctx); err != nil || n != 4 {
			t.Errorf("VerifyAudit = %d, %v; want issue, revoke, issue, issue", n, err)
		}
	})
	t.Run("concurrent look-alikes: exactly one wins", func(t *testing.T) {
		s, clk, url := fresh(t)
		handles := []*Store{s, openAt(t, url, clk.Now)}
		for round := range 8 {
			names := []string{fmt.Sprintf("user%d", round), fmt.Sprintf("us\u0435r%d", round)} // Cyrillic е
			errs := make([]error, len(names))
			var start, wg sync.WaitGroup
			start.Add(1)
			for i, cn := range names {
				wg.Go(func() {
					start.Wait()
					errs[i] = handles[i].Insert(ctx, clientRecord(100*round+i, cn, clk.Now()))
				})
			}
			start.Done()
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, ErrIdentityTaken):
					t.Errorf("round %d: loser's error = %v, want ErrIdentityTaken", round, err)
				}
			}
			if wins != 1 {
				t.Errorf("round %d: %d of %q won, want exactly 1 (%v)", round, wins, names, errs)
			}
		}
	})
}
