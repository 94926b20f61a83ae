package certstore

import (
	"context"
	"sync"
)

// checkpointer runs SQLite WAL checkpoints in the background after commits
// (Options.CheckpointAfterCommit).
//
// A short-lived command closes the inventory right after its last commit,
// and the last connection to close an SQLite database in WAL mode copies
// the WAL into the database file and syncs both before it returns: two
// device flushes at the very end of the command, after everything else.
// Started right after the commit instead, the checkpoint runs while the
// command links its files and fsyncs their directory, and Close finds
// nothing left to copy. Durability is unchanged: the commit was already
// synced to the WAL (synchronous=FULL), and the checkpoint syncs the WAL
// before and the database after copying, exactly as the one at Close did.
type checkpointer struct {
	mu      sync.Mutex
	running bool
	again   bool
	wg      sync.WaitGroup
}

// checkpointSoon starts a background checkpoint, or asks the running one
// to go again once it is done.
func (s *Store) checkpointSoon() {
	c := &s.ckpt
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		c.again = true
		return
	}
	c.running = true
	c.wg.Add(1)
	go s.runCheckpoints()
}

func (s *Store) runCheckpoints() {
	c := &s.ckpt
	defer c.wg.Done()
	for {
		// PASSIVE never waits for readers or writers: what it cannot copy
		// now is copied by a later checkpoint or by the one at Close. Its
		// outcome changes nothing the caller relies on, so errors are
		// dropped; Close still checkpoints whatever is left.
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		_, _ = s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
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

// waitCheckpoints waits for background checkpoints (before Close).
func (s *Store) waitCheckpoints() { s.ckpt.wg.Wait() }
