package certstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConformanceSQLite(t *testing.T)   { runConformance(t, sqliteBackend()) }
func TestConformanceMySQL(t *testing.T)    { runConformance(t, mysqlBackend()) }
func TestConformancePostgres(t *testing.T) { runConformance(t, postgresBackend()) }

var errStop = errors.New("stop here")

// runConformance is the one behaviour suite every backend must pass.
func runConformance(t *testing.T, b backend) {
	ctx := context.Background()
	// fresh returns a migrated store on a new database, with a fixed clock.
	fresh := func(t *testing.T) (*Store, *fakeClock, string) {
		clk := newClock()
		url := b.newURL(t)
		s := openAt(t, url, clk.Now)
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return s, clk, url
	}

	t.Run("migrate is idempotent and CheckSchema follows it", func(t *testing.T) {
		s := openAt(t, b.newURL(t), nil)
		if s.Dialect() != b.name {
			t.Errorf("Dialect() = %q, want %q", s.Dialect(), b.name)
		}
		err := s.CheckSchema(ctx)
		if !errors.Is(err, ErrSchemaVersion) {
			t.Fatalf("CheckSchema before migrate = %v, want ErrSchemaVersion", err)
		}
		st, err := s.SchemaStatus(ctx)
		if err != nil || st.Current != 0 || st.Latest < 1 || st.Applied[0].AppliedAt != nil {
			t.Fatalf("SchemaStatus before migrate = %+v, %v", st, err)
		}
		for i := range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after migrate: %v", err)
		}
		st, err = s.SchemaStatus(ctx)
		if err != nil || st.Current != st.Latest || st.Applied[0].Name != "00001_init.sql" || st.Applied[0].AppliedAt == nil {
			t.Fatalf("SchemaStatus after migrate = %+v, %v", st, err)
		}
		// A database migrated by a newer binary is refused too.
		if _, err := s.db.ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, TRUE)"); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, ErrSchemaVersion) {
			t.Fatalf("CheckSchema ahead of binary = %v, want ErrSchemaVersion", err)
		}
	})

	t.Run("insert and get round-trip every field", func(t *testing.T) {
		s, clk, _ := fresh(t)
		now := clk.Now()
		active := testRecord(1, now)
		active.SANs = []string{"b.example", "a.example", "2001:db8::1"}
		active.NotAfter = time.Date(2031, 1, 2, 3, 4, 5, 999999999, time.FixedZone("Y", -7200))
		mustInsert(t, s, active)

		reason, revokedAt := ReasonKeyCompromise, now.Add(-time.Minute)
		revoked := testRecord(2, now)
		revoked.SANs, revoked.Type, revoked.Status = nil, TypeClient, StatusRevoked
		revoked.Reason, revoked.RevokedAt, revoked.RevokedBy = &reason, &revokedAt, "bob"
		mustInsert(t, s, revoked)

		for _, in := range []Record{active, revoked} {
			got, err := s.Get(ctx, in.IssuerKeyID, "0x00"+in.Serial)
			if err != nil {
				t.Fatalf("Get %s: %v", in.Serial, err)
			}
			want := in
			want.NotBefore, want.NotAfter, want.IssuedAt = dbTime(in.NotBefore), dbTime(in.NotAfter), dbTime(now)
			want.Fingerprint = got.Fingerprint
			if want.Status == "" {
				want.Status = StatusActive
			}
			if in.RevokedAt != nil {
				at := dbTime(*in.RevokedAt)
				want.RevokedAt = &at
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
			if got.NotAfter.Location() != time.UTC || got.NotAfter.Nanosecond()%1000 != 0 {
				t.Errorf("NotAfter %v is not UTC with microseconds", got.NotAfter)
			}
			if len(got.Fingerprint) != 64 {
				t.Errorf("fingerprint %q not filled in", got.Fingerprint)
			}
		}
		if _, err := s.Get(ctx, "ab12", "ffff"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get unknown = %v, want ErrNotFound", err)
		}
	})

	t.Run("duplicates are refused and write nothing", func(t *testing.T) {
		s, clk, _ := fresh(t)
		orig := testRecord(1, clk.Now())
		mustInsert(t, s, orig)
		sameSerial := testRecord(2, clk.Now())
		sameSerial.Serial = "0x" + orig.Serial
		sameDER := testRecord(3, clk.Now())
		sameDER.DER = orig.DER
		for name, rec := range map[string]Record{"issuer+serial": sameSerial, "fingerprint": sameDER} {
			if err := s.Insert(ctx, rec); !errors.Is(err, ErrDuplicate) {
				t.Errorf("%s: Insert = %v, want ErrDuplicate", name, err)
			}
		}
		if n, _ := s.Count(ctx, Filter{}); n != 1 {
			t.Errorf("Count = %d after refused duplicates, want 1", n)
		}
		if n := auditCount(t, s); n != 1 {
			t.Errorf("audit entries = %d after refused duplicates, want 1", n)
		}
		other := testRecord(4, clk.Now())
		other.Serial, other.IssuerKeyID = orig.Serial, "cd34"
		mustInsert(t, s, other)
		found, err := s.FindBySerial(ctx, orig.Serial)
		if err != nil || len(found) != 2 || found[0].IssuerKeyID != "cd34" {
			t.Errorf("FindBySerial = %d records (%v), want 2, newest first", len(found), err)
		}
	})

	t.Run("invalid records are refused", func(t *testing.T) {
		s, clk, _ := fresh(t)
		now := clk.Now()
		bad := map[string]func(*Record){
			"bad serial":        func(r *Record) { r.Serial = "xyz" },
			"bad issuer":        func(r *Record) { r.IssuerKeyID = "AB:12" },
			"bad type":          func(r *Record) { r.Type = "no-such-type" },
			"empty DER":         func(r *Record) { r.DER = nil },
			"wrong fingerprint": func(r *Record) { r.Fingerprint = "00" },
			"long CN":           func(r *Record) { r.CN = fmt.Sprintf("%065d", 0) },
			"no validity":       func(r *Record) { r.NotAfter = time.Time{} },
			"revoked no reason": func(r *Record) { r.Status = StatusRevoked; r.RevokedAt = &now },
			"active with reason": func(r *Record) {
				code := 1
				r.Reason = &code
			},
		}
		for name, mutate := range bad {
			rec := testRecord(1, now)
			mutate(&rec)
			if err := s.Insert(ctx, rec); err == nil {
				t.Errorf("%s: Insert succeeded", name)
			}
		}
		if n, _ := s.Count(ctx, Filter{}); n != 0 {
			t.Errorf("Count = %d after refused inserts", n)
		}
	})

	t.Run("list filters, order and limit", func(t *testing.T) {
		s, clk, _ := fresh(t)
		testListFilters(t, s, clk)
	})

	t.Run("streaming callbacks abort on error", func(t *testing.T) {
		s, clk, _ := fresh(t)
		for i := range 5 {
			mustInsert(t, s, testRecord(i, clk.Now()))
			if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: testRecord(i, clk.Now()).Serial}); err != nil {
				t.Fatal(err)
			}
		}
		calls := 0
		stopAt2 := func() error {
			calls++
			if calls == 2 {
				return errStop
			}
			return nil
		}
		for name, run := range map[string]func() error{
			"List":    func() error { return s.List(ctx, Filter{}, func(Record) error { return stopAt2() }) },
			"Revoked": func() error { return s.Revoked(ctx, "ab12", func(RevokedEntry) error { return stopAt2() }) },
			"Audit":   func() error { return s.Audit(ctx, func(AuditEntry) error { return stopAt2() }) },
		} {
			calls = 0
			if err := run(); !errors.Is(err, errStop) || calls != 2 {
				t.Errorf("%s: err %v after %d calls, want errStop after 2", name, err, calls)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		s, clk, _ := fresh(t)
		testRevoke(t, s, clk)
	})

	t.Run("revoked lists only that issuer", func(t *testing.T) {
		s, clk, _ := fresh(t)
		for i, issuer := range []string{"aa", "bb", "aa", "aa"} {
			rec := testRecord(i, clk.Now())
			rec.IssuerKeyID = issuer
			mustInsert(t, s, rec)
		}
		for _, serial := range []string{"1000", "1001", "1003"} {
			issuer := map[string]string{"1001": "bb"}[serial]
			if issuer == "" {
				issuer = "aa"
			}
			if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: issuer, Serial: serial, Reason: ReasonSuperseded}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		err := s.Revoked(ctx, "aa", func(e RevokedEntry) error {
			if e.Reason != ReasonSuperseded || !e.RevokedAt.Equal(dbTime(clk.Now())) {
				t.Errorf("entry %+v: wrong reason or time", e)
			}
			got = append(got, e.Serial)
			return nil
		})
		if err != nil || !slices.Equal(got, []string{"1000", "1003"}) {
			t.Errorf("Revoked(aa) = %v, %v; want [1000 1003]", got, err)
		}
	})

	t.Run("CRL numbers are strictly increasing under concurrency", func(t *testing.T) {
		s, _, url := fresh(t)
		other := openAt(t, url, nil) // a second handle, as another process would have
		const workers, each = 6, 8
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				st := []*Store{s, other}[w%2]
				last := int64(0)
				for range each {
					n, err := st.NextCRLNumber(ctx, "ab12")
					if err != nil {
						t.Errorf("NextCRLNumber: %v", err)
						return
					}
					if n <= last {
						t.Errorf("worker %d got %d after %d", w, n, last)
					}
					last = n
					mu.Lock()
					if seen[n] {
						t.Errorf("CRL number %d handed out twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for i := int64(1); i <= workers*each; i++ {
			if !seen[i] {
				t.Errorf("CRL number %d skipped", i)
			}
		}
		if n, err := s.NextCRLNumber(ctx, "cd34"); err != nil || n != 1 {
			t.Errorf("first number of another issuer = %d, %v; want 1", n, err)
		}
	})

	t.Run("concurrent inserts from separate handles lose nothing", func(t *testing.T) {
		s, clk, url := fresh(t)
		handles := []*Store{s, openAt(t, url, clk.Now), openAt(t, url, clk.Now)}
		const workers, each = 8, 12
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					if err := handles[w%len(handles)].Insert(ctx, testRecord(w*each+i, clk.Now())); err != nil {
						t.Errorf("Insert: %v", err)
					}
				}
			})
		}
		wg.Wait()
		if n, err := s.Count(ctx, Filter{}); err != nil || n != workers*each {
			t.Errorf("Count = %d, %v; want %d", n, err, workers*each)
		}
		if n, err := s.VerifyAudit(ctx); err != nil || n != workers*each {
			t.Errorf("VerifyAudit = %d, %v; want %d", n, err, workers*each)
		}
	})

	t.Run("audit chain detects tampering", func(t *testing.T) { testAuditTamper(t, fresh) })
	t.Run("sealed audit holds against a database writer", func(t *testing.T) { testAuditSeal(t, fresh) })
	t.Run("writes refuse an inventory the audit anchor disowns", func(t *testing.T) { testAnchorGuard(t, b, fresh) })
	t.Run("one active client certificate per identity", func(t *testing.T) { testIdentity(t, fresh) })

	runGroupCommitConformance(t, fresh)
	runMessageConformance(t, fresh)

	if b.name == DriverMySQL {
		t.Run("session is strict and UTC", func(t *testing.T) {
			s, _, _ := fresh(t)
			var mode, tz string
			if err := s.db.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode, @@SESSION.time_zone").Scan(&mode, &tz); err != nil {
				t.Fatal(err)
			}
			if !containsWord(mode, "STRICT_ALL_TABLES") || !containsWord(mode, "NO_ZERO_DATE") || tz != "+00:00" {
				t.Errorf("sql_mode %q, time_zone %q; want strict and +00:00", mode, tz)
			}
		})
	}
	if b.name == DriverPostgres {
		t.Run("session is UTC", func(t *testing.T) {
			s, _, _ := fresh(t)
			var tz string
			if err := s.db.QueryRowContext(ctx, "SHOW timezone").Scan(&tz); err != nil {
				t.Fatal(err)
			}
			if tz != "UTC" {
				t.Errorf("timezone %q, want UTC", tz)
			}
		})
	}
	if b.name != DriverSQLite {
		// Strict column types make the server refuse, not truncate,
		// oversize data (SQLite stores anything; the store checks first).
		t.Run("server refuses oversize data", func(t *testing.T) {
			s, _, _ := fresh(t)
			_, err := s.db.ExecContext(ctx, "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)", fmt.Sprintf("%070d", 0))
			if err == nil {
				t.Error("oversize issuer_key_id was accepted")
			}
		})
	}
}

func containsWord(list, word string) bool {
	return slices.Contains(strings.Split(list, ","), word)
}
