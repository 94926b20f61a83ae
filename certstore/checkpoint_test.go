package certstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckpointAfterCommit: with the option, a commit is copied into the
// database file in the background, before Close: the file alone (copied
// without its WAL, as a careless backup would) already holds the row.
// Without it the row is still only in the WAL at that point, which shows
// the check can fail.
func TestCheckpointAfterCommit(t *testing.T) {
	ctx := context.Background()
	for _, on := range []bool{true, false} {
		dir := t.TempDir()
		path := filepath.Join(dir, "inv.db")
		clk := newClock()
		s, err := Open(ctx, "sqlite:"+path, Options{Now: clk.Now, CheckpointAfterCommit: on})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// The schema reaches the database file in both cases, so that
		// only the row can be missing from the copy below.
		if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		rec := testRecord(7, clk.Now())
		mustInsert(t, s, rec)
		s.waitCheckpoints()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		copyPath := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(copyPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Open(ctx, "sqlite:"+copyPath, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		_, gerr := c.Get(ctx, rec.IssuerKeyID, rec.Serial)
		c.Close()
		if on && gerr != nil {
			t.Errorf("with CheckpointAfterCommit the database file lacks the committed row: %v", gerr)
		}
		if !on && !errors.Is(gerr, ErrNotFound) {
			t.Errorf("without CheckpointAfterCommit the copy answered %v, want ErrNotFound (the row only in the WAL)", gerr)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
