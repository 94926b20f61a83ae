package certstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/securechat/scca/certstore/dialect/sqlite"
)

// TestSQLiteCommitsAreDurable: the embedded inventory runs in WAL mode with
// synchronous=FULL, so a commit returns only after its WAL frames are
// synced (README, Performance: the fsync table), and the pure-Go build's
// SQLite syncs with fdatasync (the cgo build's with fsync). With NORMAL a commit would become durable only at the next
// checkpoint, after the issued files and the audit anchor.
func TestSQLiteCommitsAreDurable(t *testing.T) {
	s := openAt(t, "sqlite:"+filepath.Join(t.TempDir(), "inv.db"), nil)
	ctx := context.Background()
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var sync int
	if err := s.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	var busy int
	if err := s.db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || int64(busy) != DefaultTimeout.Milliseconds() {
		t.Fatalf("busy_timeout = %d, %v; want the store's timeout, %d ms", busy, err, DefaultTimeout.Milliseconds())
	}
	var fk int
	if err := s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
	if sqlite.Driver == "modernc.org/sqlite" && !sqlite.Fdatasync() {
		t.Error("SQLite commits with fsync, want fdatasync")
	}
}
