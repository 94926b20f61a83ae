package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// runGroupCommitConformance adds group commit's failure paths to the
// conformance suite: every backend must answer each caller of a batch
// exactly.
func runGroupCommitConformance(t *testing.T, fresh freshStore) {
	t.Run("batch forms and chains in queue order", func(t *testing.T) { testBatchForms(t, fresh) })
	t.Run("failed batch commit fails every caller and applies nothing", func(t *testing.T) { testBatchCommitFails(t, fresh) })
	t.Run("item refused on its own account fails alone", func(t *testing.T) { testBatchItemRefused(t, fresh) })
	t.Run("caller cancelled while queued is never recorded", func(t *testing.T) { testBatchCancelQueued(t, fresh) })
	t.Run("caller cancelled in flight gets the outcome", func(t *testing.T) { testBatchCancelInFlight(t, fresh) })
}

// batchGate holds a store's committers at the start of each batch until
// opened, and counts the batches and their sizes.
type batchGate struct {
	open  chan struct{}
	mu    sync.Mutex
	sizes []int
}

func holdBatches(s *Store) *batchGate {
	g := &batchGate{open: make(chan struct{})}
	s.commit.taken = func(n int) {
		g.mu.Lock()
		g.sizes = append(g.sizes, n)
		g.mu.Unlock()
		<-g.open
	}
	return g
}

func (g *batchGate) taken() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

// release opens the gate and waits until every blocker occupy started
// (one per committer of s) has committed.
func (g *batchGate) release(t *testing.T, s *Store, blockers <-chan error) {
	t.Helper()
	close(g.open)
	for range s.d.committers {
		if err := <-blockers; err != nil {
			t.Fatalf("blocker: %v", err)
		}
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline: a condition, not a fixed sleep.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func queued(s *Store) int {
	s.commit.mu.Lock()
	defer s.commit.mu.Unlock()
	n := 0
	for _, it := range s.commit.queue {
		if it.state.Load() == itemQueued {
			n++
		}
	}
	return n
}

// occupy starts one insert per committer the store may run and waits until
// each is held at the gate, so that what is inserted next queues up and is
// taken as one batch when the gate opens. It returns the blockers' errors.
func occupy(t *testing.T, s *Store, g *batchGate, clk *fakeClock, first int) <-chan error {
	t.Helper()
	n := s.d.committers
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Insert(context.Background(), testRecord(first+i, clk.Now())) }()
		waitFor(t, "a committer to take a blocker", func() bool { return len(g.taken()) == i+1 })
	}
	return errs
}

// insertAll inserts recs, each from its own goroutine with ctxs[i] (nil:
// Background), queueing them in order behind the occupied committers.
func insertAll(t *testing.T, s *Store, recs []Record, ctxs []context.Context) []chan error {
	t.Helper()
	out := make([]chan error, len(recs))
	for i, rec := range recs {
		ctx := context.Background()
		if ctxs != nil && ctxs[i] != nil {
			ctx = ctxs[i]
		}
		out[i] = make(chan error, 1)
		before := queued(s)
		go func() { out[i] <- s.Insert(ctx, rec) }()
		waitFor(t, "the insert to queue", func() bool { return queued(s) == before+1 })
	}
	return out
}

func wantAudit(t *testing.T, s *Store, want int) {
	t.Helper()
	if n, err := s.VerifyAudit(context.Background()); err != nil || n != want {
		t.Errorf("VerifyAudit = %d, %v; want %d, nil", n, err, want)
	}
	if head, err := s.AuditHead(context.Background()); err != nil || head != int64(want) {
		t.Errorf("AuditHead = %d, %v; want %d", head, err, want)
	}
}

func wantRecorded(t *testing.T, s *Store, rec Record, want bool) {
	t.Helper()
	_, err := s.Get(context.Background(), rec.IssuerKeyID, rec.Serial)
	switch {
	case want && err != nil:
		t.Errorf("%s: %v, want it recorded", rec.Serial, err)
	case !want && !errors.Is(err, ErrNotFound):
		t.Errorf("%s: err = %v, want ErrNotFound", rec.Serial, err)
	}
}

func testBatchForms(t *testing.T, fresh freshStore) {
	s, clk, _ := fresh(t)
	g := holdBatches(s)
	blockers := occupy(t, s, g, clk, 0)
	recs := []Record{testRecord(10, clk.Now()), clientRecord(11, "alice", clk.Now()), testRecord(12, clk.Now())}
	results := insertAll(t, s, recs, nil)
	g.release(t, s, blockers)
	for i, r := range results {
		if err := <-r; err != nil {
			t.Errorf("insert %d: %v", i, err)
		}
	}
	if sizes := g.taken(); sizes[len(sizes)-1] != len(recs) {
		t.Errorf("batch sizes %v: want the queued %d in one batch", sizes, len(recs))
	}
	wantAudit(t, s, s.d.committers+len(recs))
	// The batch's entries are consecutive, in its queue order (the
	// blockers' batches may commit before or after it).
	entries := auditEntries(t, s)
	at := 0
	for at < len(entries) && entries[at].Serial != recs[0].Serial {
		at++
	}
	for i, rec := range recs {
		if at+i >= len(entries) || entries[at+i].Serial != rec.Serial || entries[at+i].Action != ActionIssue {
			t.Errorf("entries from %d are not the batch in queue order: %v", at, entries)
			break
		}
	}
}

var errInjected = errors.New("injected commit failure")

func testBatchCommitFails(t *testing.T, fresh freshStore) {
	s, clk, _ := fresh(t)
	g := holdBatches(s)
	recs := []Record{testRecord(10, clk.Now()), clientRecord(11, "alice", clk.Now()), testRecord(12, clk.Now())}
	s.commit.beforeCommit = func(tx *sql.Tx, n int) error {
		if n == len(recs) {
			return errInjected
		}
		return nil
	}
	blockers := occupy(t, s, g, clk, 0)
	results := insertAll(t, s, recs, nil)
	g.release(t, s, blockers)
	for i, r := range results {
		if err := <-r; !errors.Is(err, errInjected) {
			t.Errorf("insert %d: err = %v, want the batch's failure", i, err)
		}
		wantRecorded(t, s, recs[i], false)
	}
	wantAudit(t, s, s.d.committers)
	// Nothing was left half-done: the identity is free, the serials too.
	s.commit.beforeCommit = nil
	for _, rec := range recs {
		mustInsert(t, s, rec)
	}
	wantAudit(t, s, s.d.committers+len(recs))
}

func testBatchItemRefused(t *testing.T, fresh freshStore) {
	s, clk, _ := fresh(t)
	mustInsert(t, s, clientRecord(1, "bob", clk.Now()))
	g := holdBatches(s)
	blockers := occupy(t, s, g, clk, 100)
	recs := []Record{
		testRecord(10, clk.Now()),
		testRecord(1, clk.Now()),                  // bob's serial again: a duplicate
		clientRecord(12, "b\u043eb", clk.Now()),   // looks like bob: identity taken
		clientRecord(13, "carol", clk.Now()),      //
		clientRecord(14, "c\u0430rol", clk.Now()), // carol's look-alike in the same batch
		testRecord(15, clk.Now()),
	}
	recs[1].DER = []byte("other DER, same serial")
	results := insertAll(t, s, recs, nil)
	g.release(t, s, blockers)
	want := []error{nil, ErrDuplicate, ErrIdentityTaken, nil, ErrIdentityTaken, nil}
	for i, r := range results {
		err := <-r
		if want[i] == nil && err != nil || want[i] != nil && !errors.Is(err, want[i]) {
			t.Errorf("insert %d (%s): err = %v, want %v", i, recs[i].CN, err, want[i])
		}
	}
	wantRecorded(t, s, recs[0], true)
	wantRecorded(t, s, recs[3], true)
	wantRecorded(t, s, recs[5], true)
	if got, _ := s.FindByCN(context.Background(), recs[2].CN); len(got) != 0 {
		t.Errorf("the refused look-alike was recorded: %v", got)
	}
	wantAudit(t, s, 1+s.d.committers+3)
}

func testBatchCancelQueued(t *testing.T, fresh freshStore) {
	s, clk, _ := fresh(t)
	g := holdBatches(s)
	blockers := occupy(t, s, g, clk, 0)
	ctx, cancel := context.WithCancel(context.Background())
	recs := []Record{testRecord(10, clk.Now()), clientRecord(11, "dave", clk.Now()), testRecord(12, clk.Now())}
	results := insertAll(t, s, recs, []context.Context{nil, ctx, nil})
	cancel()
	// It answers while the committers are still held: it never waits for
	// a batch it is not in.
	if err := <-results[1]; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled insert: err = %v, want context.Canceled", err)
	}
	g.release(t, s, blockers)
	for _, i := range []int{0, 2} {
		if err := <-results[i]; err != nil {
			t.Errorf("insert %d: %v", i, err)
		}
	}
	wantRecorded(t, s, recs[1], false)
	wantRecorded(t, s, recs[0], true)
	wantAudit(t, s, s.d.committers+2)
	// The cancelled caller's identity stayed free.
	mustInsert(t, s, clientRecord(13, "dave", clk.Now()))
}

func testBatchCancelInFlight(t *testing.T, fresh freshStore) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("commit fails %v", fail), func(t *testing.T) {
			s, clk, _ := fresh(t)
			inCommit, release := make(chan struct{}), make(chan struct{})
			s.commit.beforeCommit = func(*sql.Tx, int) error {
				close(inCommit)
				<-release
				if fail {
					return errInjected
				}
				return nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			rec := clientRecord(1, "erin", clk.Now())
			result := make(chan error, 1)
			go func() { result <- s.Insert(ctx, rec) }()
			<-inCommit
			cancel()
			close(release)
			err := <-result
			if fail && !errors.Is(err, errInjected) || !fail && err != nil {
				t.Errorf("err = %v, want the batch's outcome (failed %v)", err, fail)
			}
			wantRecorded(t, s, rec, !fail)
			wantAudit(t, s, map[bool]int{false: 1, true: 0}[fail])
		})
	}
}

// A batch whose COMMIT the database itself refuses (a deferred constraint
// trigger, checked only at commit, on PostgreSQL, the one store that has
// them) fails every caller, and nothing of it is applied.
func TestGroupCommitRefusedAtCommitPostgres(t *testing.T) {
	clk := newClock()
	s := openAt(t, postgresBackend().newURL(t), clk.Now)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF NEW.cn = 'boom.example.com' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$`,
		`CREATE CONSTRAINT TRIGGER refuse_boom AFTER INSERT ON certificates
		 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_boom()`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	g := holdBatches(s)
	blockers := occupy(t, s, g, clk, 0)
	boom := testRecord(11, clk.Now())
	boom.CN = "boom.example.com"
	recs := []Record{testRecord(10, clk.Now()), boom, clientRecord(12, "frank", clk.Now())}
	results := insertAll(t, s, recs, nil)
	g.release(t, s, blockers)
	for i, r := range results {
		if err := <-r; err == nil || !strings.Contains(err.Error(), "refused at commit") {
			t.Errorf("insert %d: err = %v, want the refused commit", i, err)
		}
		wantRecorded(t, s, recs[i], false)
	}
	wantAudit(t, s, s.d.committers)
	mustInsert(t, s, recs[2]) // the identity was left free
}
