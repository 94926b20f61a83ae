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
// moved and opened alone, read-only media included. A read-only store
// (Options.ReadOnly) can back up: nothing is written to the inventory.
//
// Copying inventory.db (or it and its -wal) while commands run is not a
// backup: a short-lived command leaves its commits in the WAL, and a
// checkpoint between the two copies moves them from one file to the other.
// SQLite's VACUUM INTO reads one snapshot. The copy is written under a
// temporary name created 0600 (VACUUM INTO would create 0644: the
// inventory holds every certificate and the audit log), given to SQLite as
// an absolute path (a relative one starting with "file:" would be read as
// a URI and the copy written elsewhere), checked, synced, moved to out
// without replacing anything, and the directory synced.
//
// Errors about out do not wrap the inventory's fault sentinels: a full
// disk or a bad name there is not the inventory's.
func (s *Store) Backup(ctx context.Context, out string) error {
	if s.d.name != DriverSQLite {
		return fmt.Errorf("%w (use mysqldump, mariadb-dump or pg_dump for %s)", ErrBackupUnsupported, s.loc.Redacted)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	}
	dir := filepath.Dir(out)
	tmp, err := createEmpty(out)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: directory %s: %w", dir, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", out, err)
	}
	defer os.Remove(tmp)
	defer os.Remove(tmp + "-journal") // VACUUM INTO's, if it died midway
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup to %s: %v", out, err)
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Size() == 0 {
		return fmt.Errorf("backup to %s: the copy was not written (%v)", out, err)
	}
	if err := atomicfile.SyncFiles(tmp); err != nil {
		return fmt.Errorf("backup to %s: %w", out, err)
	}
	if err := moveNoReplace(tmp, out); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("backup to %s: %w", out, err)
	}
	return nil
}

// createEmpty creates an empty 0600 file beside path under a temporary
// name and returns that name, absolute.
func createEmpty(path string) (string, error) {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
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

// moveNoReplace gives tmp the name out unless out exists: a hard link
// (atomicfile.Link, which then removes tmp) where the file system has
// them, else renameNoReplace (vfat and exFAT, typical of the USB sticks an
// offline CA backs up to, have no hard links).
func moveNoReplace(tmp, out string) error {
	err := atomicfile.Link(tmp, out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, atomicfile.ErrExists):
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, errors.ErrUnsupported):
		return renameNoReplace(tmp, out)
	}
	return fmt.Errorf("backup to %s: %w", out, err)
}

// checkAndRename renames tmp to out after checking that out does not exist
// (the last resort of renameNoReplace: a file created in between would be
// replaced).
func checkAndRename(tmp, out string) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("backup: %s: %w", out, fs.ErrExist)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("backup to %s: %w", out, err)
	}
	return nil
}
