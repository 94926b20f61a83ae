package certstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/securechat/scca/internal/atomicfile"
)

// ErrBackupUnsupported: Backup is for the embedded SQLite inventory; a
// database server has its own tools (mysqldump, mariadb-dump, pg_dump).
var ErrBackupUnsupported = errors.New("backup is for an SQLite inventory")

// Backup writes a consistent copy of an SQLite inventory to out, a new
// file (an existing one is refused, not replaced): one file holding every
// commit, including those still only in the WAL, so it can be copied,
// moved and opened alone, read-only media included.
//
// Copying inventory.db (or it and its -wal) while commands run is not a
// backup: a short-lived command leaves its commits in the WAL, and a
// checkpoint between the two copies moves them from one file to the other.
// SQLite's VACUUM INTO reads one snapshot. The copy is written under a
// temporary name created 0600 (VACUUM INTO would create 0644: the
// inventory holds every certificate and the audit log), synced, linked to
// out and the directory synced.
func (s *Store) Backup(ctx context.Context, out string) error {
	if s.d.name != DriverSQLite {
		return fmt.Errorf("%w (use mysqldump, mariadb-dump or pg_dump for %s)", ErrBackupUnsupported, s.loc.Redacted)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	}
	tmp, err := createEmpty(out)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: directory %s: %w", filepath.Dir(out), fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp)
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup %s: %w", s.loc.Redacted, translate(err))
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := atomicfile.Link(tmp, out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(out))
}

// createEmpty creates an empty 0600 file beside path under a temporary
// name and returns that name.
func createEmpty(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	return name, f.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
