package certstore

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/securechat/scca/certstore/sqldriver"
)

// openSQLiteReadOnly opens an existing SQLite inventory for reading only
// (Options.ReadOnly), creating nothing: no database file, no lock file.
//
// In WAL mode SQLite needs the -shm file to read. When another process has
// the inventory open, it exists and mode=ro shares it, seeing that process's
// commits. When it does not exist and cannot be created (a read-only mount,
// a directory this user may not write), the file is opened immutable: SQLite
// then takes no locks and reads no WAL, which is right for a database no one
// is writing, and the only way to read one on read-only media. Immutable
// reports whether that was needed; then changes made later elsewhere are not
// seen by this handle.
//
// An immutable open would not see commits that are still only in the WAL
// (a short-lived command leaves them there: Options.ShortLived), so a WAL
// that holds frames refuses it with ErrWALNotReadable instead of answering
// from an older state.
//
// file is loc.Path with symbolic links resolved: SQLite keeps -shm and
// -wal beside the file a link names.
func openSQLiteReadOnly(drv *sqldriver.Driver, loc Location, file string) (db *sql.DB, immutable bool, err error) {
	if drv.OpenReadOnly == nil {
		return nil, false, fmt.Errorf("the %s driver cannot open read-only", drv.Name)
	}
	if _, err := os.Stat(loc.Path); err != nil {
		return nil, false, err
	}
	_, shmErr := os.Stat(file + "-shm")
	immutable = errors.Is(shmErr, fs.ErrNotExist) && !dirWritable(filepath.Dir(file))
	if immutable {
		if fi, err := os.Stat(file + "-wal"); err == nil && fi.Size() > walHeaderSize {
			return nil, false, fmt.Errorf("%w: %s-wal (%d bytes)", ErrWALNotReadable, file, fi.Size())
		}
	}
	db, err = drv.OpenReadOnly(loc, immutable)
	return db, immutable, err
}

// walHeaderSize is the size of a WAL's header: a WAL no larger holds no
// frame.
const walHeaderSize = 32

// resolvedPath is the file SQLite opens for path: symbolic links resolved
// (path itself when that fails; SQLite then reports the error).
func resolvedPath(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	return path
}

// ErrWALNotReadable: a read-only SQLite inventory has commits in its WAL
// that SQLite cannot read without its -shm file, which is missing and
// cannot be created (read-only media, someone else's directory).
var ErrWALNotReadable = errors.New("the inventory's WAL holds commits that cannot be read here: its -shm file is missing and the directory is not writable")

// Immutable reports whether a read-only SQLite store was opened immutable
// (see Options.ReadOnly): it does not see later changes by other processes.
func (s *Store) Immutable() bool { return s.immutable }

// ReadOnlyLocation reports whether loc is an SQLite file whose directory
// this process cannot write (a read-only mount, someone else's directory):
// a command that would write may then still serve read-only.
func ReadOnlyLocation(loc Location) bool {
	return loc.Driver == DriverSQLite && loc.Path != "" && !dirWritable(filepath.Dir(resolvedPath(loc.Path)))
}
