package certstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// copyDBAlone copies the database file without its WAL (as a careless
// backup would) and reports whether the copy has rec.
func copyDBAlone(t *testing.T, path string, rec Record) error {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(copyPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), "sqlite:"+copyPath, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, gerr := c.Get(context.Background(), rec.IssuerKeyID, rec.Serial)
	return gerr
}

// openMigrated opens a migrated SQLite inventory whose schema is already
// in the database file, so that only rows can be missing from a copy.
func openMigrated(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	return s
}

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatalf("the WAL: %v", err)
	}
	return fi.Size()
}

// TestShortLived: a short-lived store (a CLI command) commits durably and
// leaves no checkpoint for Close.
//   - Where the driver can leave the WAL (the cgo build), Close does not
//     checkpoint: the WAL still holds the commit afterwards, the database
//     file alone does not, and the next open reads the commit from the WAL.
//   - Elsewhere the commit is checkpointed in the background before Close:
//     the database file alone already holds the row.
//
// A store opened without the option is the control: its Close checkpoints
// and removes the WAL, so each check above can fail.
func TestShortLived(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	for _, short := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "inv.db")
		s := openMigrated(t, path, Options{Now: clk.Now, ShortLived: short})
		rec := testRecord(7, clk.Now())
		mustInsert(t, s, rec)
		s.waitCheckpoints()
		leave := s.leaveWAL
		if short && leave == s.ckptAfterCommit {
			t.Fatalf("short-lived: leaveWAL %v, ckptAfterCommit %v: exactly one must hold", leave, s.ckptAfterCommit)
		}
		if short && !leave {
			if err := copyDBAlone(t, path, rec); err != nil {
				t.Errorf("short-lived, checkpointing: the database file lacks the committed row: %v", err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, walErr := os.Stat(path + "-wal")
		switch {
		case short && leave:
			if n := walSize(t, path); n == 0 {
				t.Error("short-lived: Close emptied the WAL; want it left to the next process")
			}
			if err := copyDBAlone(t, path, rec); !errors.Is(err, ErrNotFound) {
				t.Errorf("short-lived: the database file alone answered %v, want ErrNotFound (the row only in the WAL)", err)
			}
		case !short:
			if !errors.Is(walErr, os.ErrNotExist) {
				t.Errorf("long-lived Close left the WAL (%v); want it checkpointed and removed", walErr)
			}
			if err := copyDBAlone(t, path, rec); err != nil {
				t.Errorf("long-lived: the database file lacks the row after Close: %v", err)
			}
		}
		r := openAt(t, "sqlite:"+path, clk.Now)
		if _, err := r.Get(ctx, rec.IssuerKeyID, rec.Serial); err != nil {
			t.Errorf("short=%v: the next open does not see the commit: %v", short, err)
		}
	}
}

// TestShortLivedTruncatesWAL: a short-lived store that leaves its WAL
// truncates it once it has grown past walTruncateAfter, in the background
// after the commit: the database file then has the row and the WAL is
// empty.
func TestShortLivedTruncatesWAL(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openMigrated(t, path, Options{Now: clk.Now, ShortLived: true})
	if !s.leaveWAL {
		s.Close()
		t.Skip("this build's SQLite driver cannot leave the WAL (pure Go): TestShortLived covers its checkpoints")
	}
	old := walTruncateAfter
	t.Cleanup(func() { walTruncateAfter = old })
	first := testRecord(1, clk.Now())
	mustInsert(t, s, first)
	s.waitCheckpoints()
	grown := walSize(t, path)
	if grown == 0 {
		t.Fatal("the commit left nothing in the WAL")
	}
	walTruncateAfter = grown // the next commit crosses it
	rec := testRecord(2, clk.Now())
	mustInsert(t, s, rec)
	s.waitCheckpoints()
	if n := walSize(t, path); n != 0 {
		t.Errorf("WAL is %d bytes after a commit past the limit (%d); want it truncated", n, grown)
	}
	if err := copyDBAlone(t, path, rec); err != nil {
		t.Errorf("after the truncation the database file lacks the row: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestShortLivedTruncateGivesWay: the TRUNCATE checkpoint waits at most
// truncateBusyWait for another process's reader, not the store's busy
// timeout (30 s here), so a long reader elsewhere does not hold a one-shot
// command at Close; the WAL is then left for a later command, and the
// connection's busy timeout is restored.
func TestShortLivedTruncateGivesWay(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openMigrated(t, path, Options{Now: clk.Now, ShortLived: true, Timeout: 30 * time.Second})
	defer s.Close()
	if !s.leaveWAL {
		t.Skip("this build's SQLite driver cannot leave the WAL (pure Go)")
	}
	mustInsert(t, s, testRecord(1, clk.Now()))
	// A reader elsewhere whose snapshot includes that commit's WAL frames
	// (a read-only store: a read-write one begins every transaction
	// IMMEDIATE, taking the write lock).
	r, err := Open(ctx, "sqlite:"+path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM certificates").Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader: %d rows, %v", n, err)
	}
	old := walTruncateAfter
	t.Cleanup(func() { walTruncateAfter = old })
	walTruncateAfter = 0
	start := time.Now()
	mustInsert(t, s, testRecord(2, clk.Now()))
	s.waitCheckpoints()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the truncation waited %v for the reader; want about %v, not the busy timeout", d, truncateBusyWait)
	}
	if walSize(t, path) == 0 {
		t.Error("the WAL was truncated under a reader that still used it")
	}
	conns := make([]*sql.Conn, 4)
	for i := range conns {
		if conns[i], err = s.db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		var busy int64
		if err := conns[i].QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if busy != 30000 {
			t.Errorf("connection %d has busy_timeout %d ms after the truncation, want 30000", i, busy)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestShortLivedSequence: many short-lived stores in a row (one command
// each), each leaving the WAL to the next and truncating it past a small
// limit, beside a long-lived writer and a read-only reader working the whole
// time: every row committed is read back by a fresh store, the audit chain
// verifies, and truncations did happen (so the test crosses them).
func TestShortLivedSequence(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	openMigrated(t, path, Options{Now: clk.Now}).Close()
	old := walTruncateAfter
	t.Cleanup(func() { walTruncateAfter = old })
	walTruncateAfter = 16 << 10

	long := openAt(t, "sqlite:"+path, clk.Now)
	ro, err := Open(ctx, "sqlite:"+path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	stop := make(chan struct{})
	errs := make(chan error, 2)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // the long-lived writer
		defer bg.Done()
		for i := 1000; ; i++ {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if err := long.Insert(ctx, testRecord(i, clk.Now())); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // the reader
		defer bg.Done()
		for {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if _, err := ro.Count(ctx, Filter{}); err != nil {
				errs <- err
				return
			}
		}
	}()
	const commands = 40
	truncated := 0
	for i := 1; i <= commands; i++ {
		s, err := Open(ctx, "sqlite:"+path, Options{Now: clk.Now, ShortLived: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, testRecord(i, clk.Now())); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("command %d: close: %v", i, err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() == 0 {
			truncated++
		}
	}
	close(stop)
	bg.Wait()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("beside the commands: %v", err)
		}
	}
	if leaves := func() bool {
		s, err := Open(ctx, "sqlite:"+path, Options{ShortLived: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.leaveWAL
	}(); leaves && truncated == 0 {
		t.Error("no command truncated the WAL: the test did not cross a truncation")
	}
	fresh := openAt(t, "sqlite:"+path, clk.Now)
	for i := 1; i <= commands; i++ {
		r := testRecord(i, clk.Now())
		if _, err := fresh.Get(ctx, r.IssuerKeyID, r.Serial); err != nil {
			t.Errorf("row of command %d: %v", i, err)
		}
	}
	if _, err := fresh.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}
