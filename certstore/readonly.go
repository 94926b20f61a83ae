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
func openSQLiteReadOnly(drv *sqldriver.Driver, loc Location) (db *sql.DB, immutable bool, err error) {
	if drv.OpenReadOnly == nil {
		return nil, false, fmt.Errorf("the %s driver cannot open read-only", drv.Name)
	}
	if _, err := os.Stat(loc.Path); err != nil {
		return nil, false, err
	}
	_, shmErr := os.Stat(loc.Path + "-shm")
	immutable = errors.Is(shmErr, fs.ErrNotExist) && !dirWritable(filepath.Dir(loc.Path))
	db, err = drv.OpenReadOnly(loc, immutable)
	return db, immutable, err
}

// Immutable reports whether a read-only SQLite store was opened immutable
// (see Options.ReadOnly): it does not see later changes by other processes.
func (s *Store) Immutable() bool { return s.immutable }

// ReadOnlyLocation reports whether loc is an SQLite file whose directory
// this process cannot write (a read-only mount, someone else's directory):
// a command that would write may then still serve read-only.
func ReadOnlyLocation(loc Location) bool {
	return loc.Driver == DriverSQLite && loc.Path != "" && !dirWritable(filepath.Dir(loc.Path))
}
