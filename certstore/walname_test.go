package certstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dirSyncs records the directory syncs of the WAL's name (syncDir) with
// what was true at each: whether the WAL existed and how many certificates
// were committed, read through a connection of its own.
type dirSyncs struct {
	mu    sync.Mutex
	calls []dirSyncCall
	fail  error
}

type dirSyncCall struct {
	dir     string
	walSeen bool
	wal     os.FileInfo
	rows    int
}

func hookDirSync(t *testing.T, path string) *dirSyncs {
	t.Helper()
	d := &dirSyncs{}
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(dir string) error {
		c := dirSyncCall{dir: dir}
		fi, err := os.Stat(path + "-wal")
		c.walSeen, c.wal = err == nil, fi
		c.rows = countRows(path)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.calls = append(d.calls, c)
		return d.fail
	}
	return d
}

func (d *dirSyncs) get() []dirSyncCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dirSyncCall(nil), d.calls...)
}

func (d *dirSyncs) setFail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = err
}

// countRows counts committed certificates in a read-only handle of its
// own (-1 when there is no table yet).
func countRows(path string) int {
	r, err := Open(context.Background(), "sqlite:"+path, Options{ReadOnly: true})
	if err != nil {
		return -1
	}
	defer r.Close()
	var n int
	if err := r.db.QueryRow("SELECT count(*) FROM certificates").Scan(&n); err != nil {
		return -1
	}
	return n
}

// forceWALName makes s sync the WAL's name itself, as it does with an
// SQLite compiled with SQLITE_DISABLE_DIRSYNC (.ci/build.sh; CI runs the
// race suite so). In a build without it nothing has started yet.
func forceWALName(s *Store) {
	s.wal.bg.Wait()
	s.wal.on = true
}

// TestWALNameSyncedBeforeFirstCommit: the directory is synced once per
// Open, after the WAL exists and before anything is committed into it; a
// failed sync refuses the transaction (nothing committed) and the next one
// tries again.
func TestWALNameSyncedBeforeFirstCommit(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	m := openMigrated(t, path, Options{Now: clk.Now})
	m.Close()

	d := hookDirSync(t, path)
	d.setFail(syscall.EIO)
	s, err := Open(ctx, "sqlite:"+path, Options{Now: clk.Now, ShortLived: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forceWALName(s)
	if err := s.Insert(ctx, testRecord(1, clk.Now())); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Insert with the directory sync failing: %v, want EIO", err)
	}
	if n := countRows(path); n != 0 {
		t.Fatalf("%d rows committed although the WAL's name was not synced", n)
	}
	d.setFail(nil)
	failed := len(d.get())
	for i := 1; i <= 3; i++ {
		mustInsert(t, s, testRecord(i, clk.Now()))
	}
	calls := d.get()
	if len(calls) != failed+1 {
		t.Fatalf("%d directory syncs after the failed ones, want 1 (once per Open): %+v", len(calls)-failed, calls)
	}
	c := calls[len(calls)-1]
	if c.dir != filepath.Dir(path) || !c.walSeen || c.rows != 0 {
		t.Errorf("sync %+v: want the inventory's directory, the WAL existing and no row committed yet", c)
	}
}

// TestWALNameNewDatabase: a new database's WAL is synced once, before the
// migrations commit into it (no table yet when it runs), and it is the
// file the migrations and later commits went to.
func TestWALNameNewDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inv.db")
	d := hookDirSync(t, path)
	s, err := Open(ctx, "sqlite:"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forceWALName(s)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, testRecord(1, time.Now()))
	calls := d.get()
	if len(calls) != 1 || !calls[0].walSeen || calls[0].rows != -1 {
		t.Fatalf("directory syncs %+v: want one, with the WAL existing and before the migrations (no table)", calls)
	}
	now, err := os.Stat(path + "-wal")
	if err != nil || !os.SameFile(now, calls[0].wal) || now.Size() == 0 {
		t.Errorf("the commits went to another WAL than the synced one (%v)", err)
	}
}

// TestWALNamePinned: while a store whose WAL name was synced is open, the
// WAL it synced stays: another store's connection closing last (which
// checkpoints and deletes the WAL) cannot delete it, because the store
// pins one connection. In the control, a store without the pin whose idle
// connections are closed, the other store's close deletes the file, so the
// check can fail.
func TestWALNamePinned(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	for _, pinned := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "inv.db")
		openMigrated(t, path, Options{Now: clk.Now}).Close()
		s, err := Open(ctx, "sqlite:"+path, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if pinned {
			forceWALName(s)
		} else {
			s.closeWALName()
			s.wal.on = false
		}
		mustInsert(t, s, testRecord(1, clk.Now()))
		before, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		other, err := Open(ctx, "sqlite:"+path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Get(ctx, testRecord(1, clk.Now()).IssuerKeyID, testRecord(1, clk.Now()).Serial); err != nil {
			t.Fatal(err)
		}
		// Only the pin, if any, stays connected in s; other (still
		// open) keeps the WAL until it closes, last but for the pin.
		s.db.SetMaxIdleConns(0)
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Fatalf("the WAL went before the other store closed: %v", err)
		}
		other.Close()
		after, err := os.Stat(path + "-wal")
		switch {
		case pinned && (err != nil || !os.SameFile(before, after)):
			t.Errorf("pinned: the WAL was removed or replaced by another connection's close (%v)", err)
		case !pinned && err == nil:
			t.Errorf("control without the pin: the WAL survived the other close; the test cannot tell")
		}
		s.Close()
	}
}

// TestWALNameFollowsTheLibrary: the store syncs the WAL's name itself
// exactly when its SQLite was compiled without directory syncs. CI runs the
// race suite with .ci/build.sh's SQLite flags and SCCA_TEST_SQLITE_NO_DIRSYNC=1,
// so that this path is the one tested there.
func TestWALNameFollowsTheLibrary(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openMigrated(t, path, Options{})
	defer s.Close()
	var off bool
	if err := s.db.QueryRowContext(ctx, "SELECT sqlite_compileoption_used('SQLITE_DISABLE_DIRSYNC')").Scan(&off); err != nil {
		t.Fatal(err)
	}
	if s.wal.on != off {
		t.Errorf("store syncs the WAL's name itself: %v; library compiled without directory syncs: %v", s.wal.on, off)
	}
	if os.Getenv("SCCA_TEST_SQLITE_NO_DIRSYNC") == "1" && !off {
		t.Error("SCCA_TEST_SQLITE_NO_DIRSYNC=1 but this SQLite syncs directories: build with CGO_CFLAGS=-DSQLITE_DISABLE_DIRSYNC (as .ci/build.sh)")
	}
}

// TestReadOnlyImmutableRefusesWAL: where the -shm file is missing and
// cannot be created, SQLite can only open the database immutable, which
// ignores the WAL; a WAL that holds commits is then refused with
// ErrWALNotReadable rather than answered from an older state. An empty WAL
// (or none) opens immutable as before.
func TestReadOnlyImmutableRefusesWAL(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	dir := t.TempDir()
	path := filepath.Join(dir, "inv.db")
	s := openMigrated(t, path, Options{Now: clk.Now})
	defer s.Close()
	mustInsert(t, s, testRecord(1, clk.Now()))
	// A copy without the -shm file, taken while the writer is open (so the
	// WAL holds the row in every build), in a directory taken as
	// read-only.
	ro := t.TempDir()
	for _, name := range []string{"inv.db", "inv.db-wal"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ro, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := dirWritable
	t.Cleanup(func() { dirWritable = old })
	dirWritable = func(d string) bool { return d != ro }
	wal := filepath.Join(ro, "inv.db-wal")
	if fi, err := os.Stat(wal); err != nil || fi.Size() <= walHeaderSize {
		t.Fatalf("the copied WAL holds no frame (%v)", err)
	}
	if _, err := Open(ctx, "sqlite:"+filepath.Join(ro, "inv.db"), Options{ReadOnly: true}); !errors.Is(err, ErrWALNotReadable) {
		t.Fatalf("immutable open with commits in the WAL: %v, want ErrWALNotReadable", err)
	}
	// Through a symbolic link too: the WAL is looked for beside the target.
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(filepath.Join(ro, "inv.db"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, "sqlite:"+link, Options{ReadOnly: true}); !errors.Is(err, ErrWALNotReadable) {
		t.Fatalf("immutable open through a symlink with commits in the WAL: %v, want ErrWALNotReadable", err)
	}
	if err := os.Truncate(wal, walHeaderSize); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, "sqlite:"+filepath.Join(ro, "inv.db"), Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("immutable open with a WAL of only its header: %v", err)
	}
	defer r.Close()
	if !r.Immutable() {
		t.Error("want an immutable open")
	}
}

// TestWALNameSymlink: an inventory named through a symbolic link has its
// WAL beside the target, and that directory is the one synced, once.
func TestWALNameSymlink(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	realDir := t.TempDir()
	real := filepath.Join(realDir, "inv.db")
	openMigrated(t, real, Options{Now: clk.Now}).Close()
	link := filepath.Join(t.TempDir(), "inv.db")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	d := hookDirSync(t, real)
	s, err := Open(ctx, "sqlite:"+link, Options{Now: clk.Now, ShortLived: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forceWALName(s)
	for i := 1; i <= 3; i++ {
		mustInsert(t, s, testRecord(i, clk.Now()))
	}
	calls := d.get()
	if len(calls) != 1 || !calls[0].walSeen || calls[0].rows != 0 {
		t.Fatalf("directory syncs %+v: want one, before the first commit, with the WAL beside the target", calls)
	}
	if want, _ := filepath.EvalSymlinks(realDir); calls[0].dir != want {
		t.Errorf("synced %s, want the target's directory %s", calls[0].dir, want)
	}
}

// TestWALNameMissingFailsClosed: when the WAL is not where SQLite keeps it
// after the pinned read, no transaction runs (the WAL's name cannot be
// vouched for); nothing is taken as "nothing to sync".
func TestWALNameMissingFailsClosed(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	openMigrated(t, path, Options{Now: clk.Now}).Close()
	d := hookDirSync(t, path)
	s, err := Open(ctx, "sqlite:"+path, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forceWALName(s)
	s.wal.done.Store(false)
	synced := len(d.get()) // the background sync of a DISABLE_DIRSYNC build
	// The WAL vanishes (as if another process had removed it behind
	// SQLite's back) before the first transaction asks.
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, testRecord(1, clk.Now())); err == nil || !strings.Contains(err.Error(), "WAL") {
		t.Fatalf("Insert with the WAL missing: %v, want an error naming the WAL", err)
	}
	if n := len(d.get()) - synced; n != 0 {
		t.Errorf("%d directory syncs for a WAL that is not there", n)
	}
}
