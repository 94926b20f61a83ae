package certstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/securechat/scca/internal/atomicfile"
)

// walName makes the name of an SQLite WAL durable before anything is
// committed into it, for an SQLite library compiled without its own
// directory syncs (SQLITE_DISABLE_DIRSYNC, as .ci/build.sh compiles the
// cgo driver; sqldriver.Driver.NoDirSync tells).
//
// A commit syncs the WAL's content (synchronous=FULL), but a WAL created
// afresh is reachable after a power cut only once its directory entry is
// on the device as well. SQLite normally fsyncs the directory at the first
// sync of every WAL it opens, in every process, even one that has existed
// for days: a device flush of its own, in sequence between the WAL header's
// sync and the commit's. Compiled without that, the store does it instead,
// off the critical path and exactly once per Open:
//
//   - Open starts it in the background, so the flush overlaps the caller's
//     own work (key generation and signing, for an issuance);
//   - it first pins one connection for the store's lifetime and reads
//     through it, which makes SQLite open the WAL, creating it if missing.
//     While any connection is open no other process can delete the WAL
//     (only the last one to close does, under an exclusive lock), so the
//     file whose name was synced is the one every later commit goes to;
//   - every transaction waits for it before it begins (tryTx), and so do
//     the migrations (Migrate);
//   - the WAL is the one SQLite opened (pragma_database_list names the
//     database file with symbolic links resolved, and the WAL lies beside
//     it), and a WAL missing after that read is an error, never taken as
//     "nothing to sync": it fails closed.
type walName struct {
	on   bool // the library does not sync the WAL's directory
	mu   sync.Mutex
	pin  *sql.Conn
	done atomic.Bool // set under mu; read without it on every transaction
	bg   sync.WaitGroup
}

// startWALName detects the library's setting and starts the background
// sync (Open, read-write SQLite only).
func (s *Store) startWALName(ctx context.Context, noDirSync func(context.Context, *sql.DB) (bool, error)) error {
	on, err := noDirSync(ctx, s.db)
	if err != nil {
		return fmt.Errorf("inventory %s: %w", s.loc.Redacted, translate(err))
	}
	if !on {
		return nil
	}
	s.wal.on = true
	s.wal.bg.Add(1)
	go func() {
		defer s.wal.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		// An error here is met again, and returned, by the first
		// transaction's own call.
		_ = s.ensureWALName(ctx)
	}()
	return nil
}

// ensureWALName returns once the WAL's name is durable. See walName.
func (s *Store) ensureWALName(ctx context.Context) error {
	w := &s.wal
	if !w.on || w.done.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done.Load() {
		return nil
	}
	if w.pin == nil {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("inventory %s: %w", s.loc.Redacted, translate(err))
		}
		w.pin = c
	}
	// Reading the schema makes SQLite open the WAL; the file it names is
	// the database it opened.
	var n int
	var file string
	if err := w.pin.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM sqlite_master), file FROM pragma_database_list WHERE name = 'main'").Scan(&n, &file); err != nil {
		return fmt.Errorf("inventory %s: %w", s.loc.Redacted, translate(err))
	}
	if _, err := os.Stat(file + "-wal"); err != nil {
		return fmt.Errorf("inventory %s: its WAL is not where SQLite keeps it: %w", s.loc.Redacted, err)
	}
	if err := syncDir(filepath.Dir(file)); err != nil {
		return fmt.Errorf("inventory %s: %w", s.loc.Redacted, err)
	}
	w.done.Store(true)
	return nil
}

// syncDir is atomicfile.SyncDir, a variable for tests that count or fail
// the flush. Unlike SQLite's own directory sync, which ignores every error,
// it fails on an I/O error, which refuses the commit.
var syncDir = atomicfile.SyncDir

// closeWALName waits for the background sync and releases the pinned
// connection (Close).
func (s *Store) closeWALName() {
	s.wal.bg.Wait()
	s.wal.mu.Lock()
	defer s.wal.mu.Unlock()
	if s.wal.pin != nil {
		s.wal.pin.Close()
		s.wal.pin = nil
	}
}
