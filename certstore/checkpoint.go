package certstore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"sync"
	"time"
)

// checkpointer runs SQLite WAL checkpoints in the background after commits
// of a short-lived process (Options.ShortLived).
//
// A short-lived command closes the inventory right after its last commit,
// and the last connection to close an SQLite database in WAL mode copies
// the WAL into the database file and syncs both before it returns: two
// device flushes at the very end of the command, after everything else,
// and the next command's first commit syncs a fresh WAL header, a third.
//
// Where the driver can (sqldriver.Driver.OpenShortLived: the cgo build),
// connections are told not to checkpoint at close, and the WAL, synced at
// every commit, is left to the next command, which reads it at open
// (SQLite rebuilds its index from the WAL, in time proportional to its
// size). So that this stays small and the database file does not fall far
// behind, a commit that finds the WAL larger than walTruncateAfter starts
// a TRUNCATE checkpoint in the background: one command in roughly twenty
// pays its flushes, while it links its files.
//
// Elsewhere (the pure-Go driver) the checkpoint starts in the background
// right after every commit (PASSIVE), so it runs while the command links
// its files and fsyncs their directory, and Close finds nothing left to
// copy.
//
// Durability is the same in every mode: a commit is synced to the WAL
// (synchronous=FULL) before it returns, and a checkpoint syncs the WAL
// before and the database after copying.
type checkpointer struct {
	mu      sync.Mutex
	running bool
	again   bool
	wg      sync.WaitGroup
	mode    string // the wal_checkpoint mode of the running checkpoint
}

// walTruncateAfter is the WAL size past which a short-lived store that
// leaves its WAL truncates it (1 MiB: about twenty issuances; reading it
// back at open costs about 0.5 ms per MiB on the 2-core VM of the README).
var walTruncateAfter int64 = 1 << 20

// afterCommit starts what a short-lived store does after a commit.
func (s *Store) afterCommit() {
	switch {
	case s.ckptAfterCommit:
		s.checkpointSoon("PASSIVE")
	case s.leaveWAL:
		if fi, err := os.Stat(s.file + "-wal"); err == nil && fi.Size() > walTruncateAfter {
			s.checkpointSoon("TRUNCATE")
		}
	}
}

// checkpointSoon starts a background checkpoint, or asks the running one
// to go again once it is done.
func (s *Store) checkpointSoon(mode string) {
	c := &s.ckpt
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		c.again = true
		return
	}
	c.running = true
	c.mode = mode
	c.wg.Add(1)
	go s.runCheckpoints()
}

func (s *Store) runCheckpoints() {
	c := &s.ckpt
	defer c.wg.Done()
	for {
		// PASSIVE never waits for readers or writers: what it cannot copy
		// now is copied by a later checkpoint or by the one at Close.
		// TRUNCATE waits (busy timeout) for other processes' readers and
		// writer; when it gives up, the next command tries again. The
		// outcome changes nothing the caller relies on, so errors are
		// dropped.
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		if c.mode == "TRUNCATE" {
			_ = s.truncateWAL(ctx)
		} else {
			_, _ = s.db.ExecContext(ctx, "PRAGMA wal_checkpoint("+c.mode+")")
		}
		cancel()
		c.mu.Lock()
		if !c.again {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.again = false
		c.mu.Unlock()
	}
}

// truncateBusyWait bounds how long a TRUNCATE checkpoint waits for another
// process's reader or writer. The command waits for its checkpoint at
// Close, and with the store's busy timeout (10 s by default) a long reader
// elsewhere, such as a server streaming a CRL, would hold a one-shot
// command that long; the WAL is truncated by a later command instead.
// While it waits for readers the checkpoint holds SQLite's write lock, so
// the bound is also how long it can stall a server's writers.
const truncateBusyWait = 100 * time.Millisecond

// truncateWAL runs a TRUNCATE checkpoint on a connection whose busy timeout
// is truncateBusyWait for the duration, and restores it.
func (s *Store) truncateWAL(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var busy int64
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", truncateBusyWait.Milliseconds())); err != nil {
		return err
	}
	_, ckErr := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	if _, err := conn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA busy_timeout = %d", busy)); err != nil {
		// A pooled connection must not keep the short wait: drop it.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return err
	}
	return ckErr
}

// waitCheckpoints waits for background checkpoints (before Close).
func (s *Store) waitCheckpoints() { s.ckpt.wg.Wait() }
