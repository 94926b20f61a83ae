package certstore

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func testListFilters(t *testing.T, s *Store, clk *fakeClock) {
	ctx := context.Background()
	now := clk.Now()
	fixture := []struct {
		typ, cn string
		life    time.Duration
		revoke  bool
	}{
		{TypeServer, "web.example.com", 100 * day, false}, // 1000 active
		{TypeClient, "alice", 5 * day, false},             // 1001 active, expiring soon
		{TypeServer, "old.EXAMPLE.com", -day, false},      // 1002 expired
		{TypeClient, "bob%_x", 30 * day, true},            // 1003 revoked
		{TypeCA, "Root CA", 3650 * day, false},            // 1004 active
	}
	for i, f := range fixture {
		rec := testRecord(i, now)
		rec.Type, rec.CN, rec.NotAfter = f.typ, f.cn, now.Add(f.life)
		mustInsert(t, s, rec)
		if f.revoke {
			if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: rec.IssuerKeyID, Serial: rec.Serial}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all, newest first", Filter{}, []string{"1004", "1003", "1002", "1001", "1000"}},
		{"status all", Filter{Status: StatusAll}, []string{"1004", "1003", "1002", "1001", "1000"}},
		{"active", Filter{Status: StatusActive}, []string{"1004", "1001", "1000"}},
		{"revoked", Filter{Status: StatusRevoked}, []string{"1003"}},
		{"expired", Filter{Status: StatusExpired}, []string{"1002"}},
		{"type", Filter{Type: TypeClient}, []string{"1003", "1001"}},
		{"cn contains, any case", Filter{CNContains: "example"}, []string{"1002", "1000"}},
		{"cn wildcards are literal", Filter{CNContains: "%_"}, []string{"1003"}},
		{"cn no match", Filter{CNContains: "_"}, []string{"1003"}},
		{"expiring within 10 days", Filter{ExpiringWithin: 10 * day}, []string{"1001"}},
		{"expiring within 200 days", Filter{ExpiringWithin: 200 * day}, []string{"1001", "1000"}},
		{"limit", Filter{Limit: 2}, []string{"1004", "1003"}},
		{"combined", Filter{Status: StatusActive, Type: TypeServer}, []string{"1000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			err := s.List(ctx, c.f, func(r Record) error {
				got = append(got, r.Serial)
				return nil
			})
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("List(%+v) = %v, %v; want %v", c.f, got, err, c.want)
			}
			wantCount := len(c.want)
			if c.f.Limit > 0 {
				wantCount = len(fixture)
			}
			if n, err := s.Count(ctx, c.f); err != nil || n != int64(wantCount) {
				t.Errorf("Count(%+v) = %d, %v; want %d", c.f, n, err, wantCount)
			}
		})
	}
	clk.Advance(6 * day) // 1001 is now past its NotAfter
	if n, _ := s.Count(ctx, Filter{Status: StatusExpired}); n != 2 {
		t.Errorf("expired after 6 days = %d, want 2", n)
	}
	for _, bad := range []Filter{{Status: "gone"}, {Type: "no-such-type"}, {Limit: -1}, {ExpiringWithin: -day}} {
		if err := s.List(ctx, bad, func(Record) error { return nil }); err == nil {
			t.Errorf("List(%+v) accepted an invalid filter", bad)
		}
	}
}

func testRevoke(t *testing.T, s *Store, clk *fakeClock) {
	ctx := context.Background()
	rec := testRecord(1, clk.Now())
	mustInsert(t, s, rec)
	clk.Advance(time.Hour)
	got, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "10:01", Reason: ReasonKeyCompromise, Actor: "carol"})
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	stored, err := s.Get(ctx, "ab12", rec.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, stored) {
		t.Errorf("Revoke returned %+v, store has %+v", got, stored)
	}
	if stored.Status != StatusRevoked || stored.RevokedBy != "carol" || stored.Reason == nil ||
		*stored.Reason != ReasonKeyCompromise || stored.RevokedAt == nil || !stored.RevokedAt.Equal(dbTime(clk.Now())) {
		t.Errorf("revoked record = %+v", stored)
	}
	var last AuditEntry
	if err := s.Audit(ctx, func(e AuditEntry) error { last = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if last.Action != ActionRevoke || last.Actor != "carol" || last.Serial != rec.Serial ||
		!strings.Contains(last.Details, "keyCompromise") || !last.At.Equal(dbTime(clk.Now())) {
		t.Errorf("last audit entry = %+v", last)
	}

	clk.Advance(time.Hour)
	auditBefore := auditCount(t, s)
	_, err = s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: rec.Serial, Reason: ReasonSuperseded, Actor: "dave"})
	if !errors.Is(err, ErrAlreadyRevoked) {
		t.Errorf("second Revoke = %v, want ErrAlreadyRevoked", err)
	}
	if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "beef"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke unknown = %v, want ErrNotFound", err)
	}
	if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "beef", Reason: ReasonRemoveFromCRL}); err == nil {
		t.Error("Revoke with removeFromCRL succeeded")
	}
	again, _ := s.Get(ctx, "ab12", rec.Serial)
	if !reflect.DeepEqual(again, stored) {
		t.Errorf("failed revocations changed the record:\n was %+v\n now %+v", stored, again)
	}
	if n := auditCount(t, s); n != auditBefore {
		t.Errorf("failed revocations wrote %d audit entries", n-auditBefore)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 2 {
		t.Errorf("VerifyAudit = %d, %v; want 2, nil", n, err)
	}
}

func testAuditTamper(t *testing.T, fresh func(t *testing.T) (*Store, *fakeClock, string)) {
	ctx := context.Background()
	seed := func(t *testing.T) *Store {
		s, clk, _ := fresh(t)
		if n, err := s.VerifyAudit(ctx); err != nil || n != 0 {
			t.Fatalf("VerifyAudit of empty log = %d, %v", n, err)
		}
		for i := range 4 {
			mustInsert(t, s, testRecord(i, clk.Now()))
			clk.Advance(time.Second)
		}
		if n, err := s.VerifyAudit(ctx); err != nil || n != 4 {
			t.Fatalf("VerifyAudit = %d, %v; want 4, nil", n, err)
		}
		return s
	}
	t.Run("chain starts at genesis", func(t *testing.T) {
		s := seed(t)
		var got []AuditEntry
		s.Audit(ctx, func(e AuditEntry) error { got = append(got, e); return nil })
		if len(got) != 4 || got[0].PrevHash != genesisHash || got[1].PrevHash != got[0].Hash ||
			got[0].Action != ActionIssue || got[0].Actor != "alice" || got[0].Serial != "1000" {
			t.Errorf("entries = %+v", got)
		}
	})
	rehash2 := func(t *testing.T, s *Store) {
		// A forger who recomputes entry 2's hash still breaks entry 3's link.
		var e AuditEntry
		s.Audit(ctx, func(x AuditEntry) error {
			if x.ID == 2 {
				e = x
			}
			return nil
		})
		e.Actor = "mallory"
		if _, err := s.db.ExecContext(ctx, "UPDATE audit_log SET actor = ?, hash = ? WHERE id = 2", e.Actor, auditHash(e)); err != nil {
			t.Fatal(err)
		}
	}
	sqlTamper := func(q string) func(*testing.T, *Store) {
		return func(t *testing.T, s *Store) {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name   string
		tamper func(*testing.T, *Store)
		badID  int64
	}{
		{"edited actor", sqlTamper("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"), 2},
		{"edited details", sqlTamper("UPDATE audit_log SET details = '{}' WHERE id = 1"), 1},
		{"rehashed entry", rehash2, 3},
		{"deleted middle", sqlTamper("DELETE FROM audit_log WHERE id = 3"), 3},
		{"cut-off end", sqlTamper("DELETE FROM audit_log WHERE id = 4"), 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seed(t)
			tc.tamper(t, s)
			_, err := s.VerifyAudit(ctx)
			var ae *AuditError
			if !errors.Is(err, ErrAuditTampered) || !errors.As(err, &ae) || ae.ID != tc.badID {
				t.Errorf("VerifyAudit = %v, want AuditError at entry %d", err, tc.badID)
			}
		})
	}
}
