package certstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// anchorWrites are the store's writes that the audit anchor guards, each
// run with a fresh n so that it would succeed on an honest inventory.
var anchorWrites = []struct {
	name string
	do   func(ctx context.Context, s *Store, clk *fakeClock, n int) error
}{
	{"Insert", func(ctx context.Context, s *Store, clk *fakeClock, n int) error {
		return s.Insert(ctx, testRecord(n, clk.Now()))
	}},
	{"Supersede", func(ctx context.Context, s *Store, clk *fakeClock, n int) error {
		_, err := s.Supersede(ctx, testRecord(n, clk.Now()))
		return err
	}},
	{"Revoke", func(ctx context.Context, s *Store, clk *fakeClock, n int) error {
		_, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "1001", Reason: ReasonKeyCompromise})
		return err
	}},
	{"CreateToken", func(ctx context.Context, s *Store, clk *fakeClock, n int) error {
		return s.CreateToken(ctx, testToken(n, clk.Now()))
	}},
	{"NextCRLNumber", func(ctx context.Context, s *Store, clk *fakeClock, n int) error {
		_, err := s.NextCRLNumber(ctx, "ab12")
		return err
	}},
	{"Migrate", func(ctx context.Context, s *Store, clk *fakeClock, n int) error {
		return s.Migrate(ctx)
	}},
	{"CheckAnchor", func(ctx context.Context, s *Store, clk *fakeClock, n int) error {
		return s.CheckAnchor(ctx)
	}},
}

// testToken is a valid enrollment token; n makes it unique.
func testToken(n int, now time.Time) Token {
	return Token{
		ID: fmt.Sprintf("%016x", n), Hash: fmt.Sprintf("%064x", n),
		CN: fmt.Sprintf("token%d", n), Type: TypeClient, ExpiresAt: now.Add(time.Hour),
	}
}

// inventoryState is what a refused write must leave as it was.
type inventoryState struct {
	head    int64
	certs   int
	crl     int64 // crl_numbers rows' sum
	anchor  string
	revoked int
}

func stateOf(t *testing.T, s *Store, anchorPath string) inventoryState {
	t.Helper()
	ctx := context.Background()
	var st inventoryState
	var err error
	if st.head, err = s.AuditHead(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END), 0) FROM certificates").Scan(&st.certs, &st.revoked); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(SUM(last_number), 0) FROM crl_numbers").Scan(&st.crl); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(anchorPath)
	st.anchor = string(data)
	return st
}

// testAnchorGuard: every write refuses an inventory that does not hold
// the entry the audit anchor records, or whose anchor cannot be read, and
// changes nothing; a new CA, an anchor at the head and an anchor behind it
// are written as before, and the anchor follows.
func testAnchorGuard(t *testing.T, b backend, fresh func(t *testing.T) (*Store, *fakeClock, string)) {
	ctx := context.Background()
	// seed: 3 certificates, the second revoked: 4 entries, anchored.
	seed := func(t *testing.T) (*Store, *fakeClock, string, string) {
		_, clk, url := fresh(t)
		dir := t.TempDir()
		s := sealedAt(t, url, clk, dir)
		for i := range 3 {
			mustInsert(t, s, testRecord(i, clk.Now()))
		}
		if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "1001", Reason: ReasonKeyCompromise}); err != nil {
			t.Fatal(err)
		}
		if a, ok, err := s.seal.readAnchor(); err != nil || !ok || a.ID != 4 {
			t.Fatalf("anchor after seeding = %+v, %v, %v; want entry 4", a, ok, err)
		}
		return s, clk, dir, url
	}
	// unrevoke makes 1001 active again, so that the Revoke write would
	// succeed but for the anchor.
	unrevoke := func(t *testing.T, s *Store) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, "UPDATE certificates SET status = 'active', revoked_at = NULL, reason = NULL, revoked_by = NULL"); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(t *testing.T, s *Store, q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// emptyLog empties the log (the certificates are kept, so that Revoke
	// reaches its audit entry rather than stopping at ErrNotFound).
	emptyLog := func(t *testing.T, s *Store) {
		exec(t, s, "DELETE FROM audit_log")
		exec(t, s, updateAuditHead, 0, genesisHash)
	}

	mismatches := []struct {
		name      string
		tamper    func(t *testing.T, s *Store)
		logHead   int64
		rewritten bool
	}{
		{"tail cut off and head moved back", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			exec(t, s, "DELETE FROM audit_log WHERE id > 2")
			exec(t, s, updateAuditHead, 2, e[1].Hash)
		}, 2, false},
		{"log emptied", emptyLog, 0, false},
		{"log replaced by another of the same length", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			e[0].Actor = "mallory"
			rewriteChain(t, s, e, true)
		}, 4, true},
		{"log replaced by a longer one", func(t *testing.T, s *Store) {
			e := auditEntries(t, s)
			e[2].Actor = "mallory"
			rewriteChain(t, s, append(e, e[0], e[1]), true)
		}, 6, true},
	}
	for _, tc := range mismatches {
		for i, w := range anchorWrites {
			t.Run(tc.name+"/"+w.name, func(t *testing.T) {
				s, clk, dir, _ := seed(t)
				tc.tamper(t, s)
				unrevoke(t, s)
				anchorPath := filepath.Join(dir, AuditAnchorFile)
				before := stateOf(t, s, anchorPath)
				err := w.do(ctx, s, clk, 100+i)
				var ae *AnchorError
				if !errors.Is(err, ErrAnchorMismatch) || !errors.As(err, &ae) {
					t.Fatalf("%s = %v, want an AnchorError", w.name, err)
				}
				if ae.ID != 4 || ae.LogHead != tc.logHead || ae.Rewritten != tc.rewritten || ae.Anchor != anchorPath || ae.Inventory == "" {
					t.Errorf("AnchorError = %+v; want entry 4, log head %d, rewritten %v", ae, tc.logHead, tc.rewritten)
				}
				if after := stateOf(t, s, anchorPath); after != before {
					t.Errorf("a refused %s changed the inventory or anchor:\n before %+v\n after  %+v", w.name, before, after)
				}
			})
		}
	}

	t.Run("a new database beside the anchor is refused, never migrated", func(t *testing.T) {
		_, clk, dir, _ := seed(t)
		lost := sealedAt(t, b.newURL(t), clk, dir)
		var ae *AnchorError
		if err := lost.CheckSchema(ctx); !errors.As(err, &ae) || ae.LogHead != 0 || ae.ID != 4 {
			t.Errorf("CheckSchema = %v, want an AnchorError for an empty log (not ErrSchemaVersion)", err)
		}
		if err := lost.Migrate(ctx); !errors.As(err, &ae) || ae.LogHead != 0 {
			t.Errorf("Migrate = %v, want an AnchorError for an empty log", err)
		}
		if st, err := lost.SchemaStatus(ctx); err != nil || st.Current != 0 {
			t.Errorf("after a refused Migrate the schema is at %d (%v), want 0: nothing created", st.Current, err)
		}
		if err := lost.seal.CheckEmptyInventory("x"); !errors.As(err, &ae) || ae.Inventory != "x" {
			t.Errorf("CheckEmptyInventory = %v, want an AnchorError naming x", err)
		}
	})

	unusable := []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantErr error
	}{
		{"garbage", func(t *testing.T, path string) { writeFile(t, path, "garbage\n") }, ErrAnchorMalformed},
		{"empty", func(t *testing.T, path string) { writeFile(t, path, "") }, ErrAnchorMalformed},
		{"id 0", func(t *testing.T, path string) {
			writeFile(t, path, `{"id":0,"hash":"`+strings.Repeat("a", 64)+`"}`)
		}, ErrAnchorMalformed},
		{"short hash", func(t *testing.T, path string) { writeFile(t, path, `{"id":4,"hash":"abc"}`) }, ErrAnchorMalformed},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, ErrAnchorUnreadable},
	}
	if os.Geteuid() != 0 { // root reads a file of mode 000
		unusable = append(unusable, struct {
			name    string
			damage  func(t *testing.T, path string)
			wantErr error
		}{"not readable", func(t *testing.T, path string) {
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
		}, ErrAnchorUnreadable})
	}
	for _, tc := range unusable {
		for i, w := range anchorWrites {
			t.Run("anchor "+tc.name+"/"+w.name, func(t *testing.T) {
				s, clk, dir, _ := seed(t)
				unrevoke(t, s)
				anchorPath := filepath.Join(dir, AuditAnchorFile)
				tc.damage(t, anchorPath)
				before := stateOf(t, s, anchorPath)
				if err := w.do(ctx, s, clk, 200+i); !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s = %v, want %v", w.name, err, tc.wantErr)
				}
				if after := stateOf(t, s, anchorPath); after != before {
					t.Errorf("a refused %s changed the inventory or anchor:\n before %+v\n after  %+v", w.name, before, after)
				}
				if _, err := s.CheckAudit(ctx); !errors.Is(err, tc.wantErr) {
					t.Errorf("CheckAudit = %v, want %v", err, tc.wantErr)
				}
			})
		}
	}

	t.Run("a new CA: no anchor, then the anchor follows the head", func(t *testing.T) {
		_, clk, url := fresh(t)
		dir := t.TempDir()
		s := sealedAt(t, url, clk, dir)
		if err := s.CheckAnchor(ctx); err != nil {
			t.Fatalf("CheckAnchor without an anchor = %v", err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema = %v", err)
		}
		mustInsert(t, s, testRecord(1, clk.Now())) // for Revoke
		for i, w := range anchorWrites {
			if err := w.do(ctx, s, clk, 300+i); err != nil {
				t.Fatalf("%s on a new CA = %v", w.name, err)
			}
			head, err := s.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if a, ok, err := s.seal.readAnchor(); err != nil || !ok || a.ID != head {
				t.Fatalf("after %s: anchor %+v, %v, %v; want the head, %d", w.name, a, ok, err, head)
			}
		}
		if r, err := s.CheckAudit(ctx); err != nil || !r.Anchored {
			t.Errorf("CheckAudit = %+v, %v", r, err)
		}
	})

	t.Run("an anchor behind the head that the log holds is moved forward", func(t *testing.T) {
		s, clk, dir, _ := seed(t)
		e := auditEntries(t, s)
		writeFile(t, filepath.Join(dir, AuditAnchorFile), fmt.Sprintf(`{"id":2,"hash":%q}`, e[1].Hash))
		for i, w := range anchorWrites {
			if w.name == "Revoke" {
				continue // 1001 is revoked already
			}
			if err := w.do(ctx, s, clk, 400+i); err != nil {
				t.Fatalf("%s with the anchor behind the head = %v", w.name, err)
			}
		}
		head, _ := s.AuditHead(ctx)
		if a, ok, err := s.seal.readAnchor(); err != nil || !ok || a.ID != head {
			t.Errorf("anchor %+v, %v, %v; want the head, %d", a, ok, err, head)
		}
	})

	t.Run("writers in several processes never see the anchor ahead", func(t *testing.T) {
		// Two stores on one database and one CA directory stand in for
		// two processes: each reads the anchor the other just moved.
		s, clk, dir, url := seed(t)
		other := sealedAt(t, url, clk, dir)
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for p, st := range []*Store{s, other} {
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range 6 {
						n := 1000 + p*100 + g*10 + k
						var err error
						switch k % 3 {
						case 0:
							err = st.Insert(ctx, testRecord(n, clk.Now()))
						case 1:
							err = st.CreateToken(ctx, testToken(n, clk.Now()))
						default:
							_, err = st.NextCRLNumber(ctx, "ab12")
						}
						if err != nil {
							errs <- err
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write: %v", err)
		}
		if _, err := s.CheckAudit(ctx); err != nil {
			t.Errorf("CheckAudit = %v", err)
		}
	})

	t.Run("a commit that cannot move the anchor is reported, not failed", func(t *testing.T) {
		_, clk, url := fresh(t)
		dir := t.TempDir()
		if err := NewAuditKey(dir, 1, nil); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var failures []error
		s, err := Open(ctx, url, Options{Now: clk.Now, AuditSeal: loadSeal(t, dir), AnchorFailed: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, err)
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mustInsert(t, s, testRecord(1, clk.Now()))
		anchorPath := filepath.Join(dir, AuditAnchorFile)
		before, _ := os.ReadFile(anchorPath)
		// The anchor's lock cannot be taken: the certs dir as a writer
		// that may not create files there sees it.
		lock := anchorPath + ".lock"
		if err := os.Remove(lock); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(lock, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, testRecord(2, clk.Now())); err != nil {
			t.Fatalf("Insert = %v; the change is committed and must not be reported as failed", err)
		}
		if _, err := s.Revoke(ctx, Revocation{IssuerKeyID: "ab12", Serial: "1001"}); err != nil {
			t.Fatalf("Revoke = %v", err)
		}
		if err := s.CreateToken(ctx, testToken(3, clk.Now())); err != nil {
			t.Fatalf("CreateToken = %v", err)
		}
		mu.Lock()
		got := failures
		mu.Unlock()
		if len(got) != 3 {
			t.Fatalf("AnchorFailed heard %d failures (%v), want 3", len(got), got)
		}
		for i, err := range got {
			if !errors.Is(err, ErrAnchorNotAdvanced) || !strings.Contains(err.Error(), fmt.Sprintf("entry %d", i+2)) {
				t.Errorf("failure %d = %v; want ErrAnchorNotAdvanced naming entry %d", i, err, i+2)
			}
		}
		if after, _ := os.ReadFile(anchorPath); string(after) != string(before) {
			t.Errorf("anchor moved to %s", after)
		}
		// Once the anchor can be written, the next change moves it to the
		// head, and the log verifies.
		if err := os.Remove(lock); err != nil {
			t.Fatal(err)
		}
		mustInsert(t, s, testRecord(4, clk.Now()))
		if r, err := s.CheckAudit(ctx); err != nil || !r.Anchored || r.Entries != 5 {
			t.Errorf("CheckAudit = %+v, %v", r, err)
		}
		if a, _, _ := s.seal.readAnchor(); a.ID != 5 {
			t.Errorf("anchor at %d, want 5", a.ID)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
