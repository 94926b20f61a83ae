//go:build !cgo

package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/securechat/scca/certstore/sqldriver"
)

// Driver is the SQLite driver this build links (see the package doc).
const Driver = "modernc.org/sqlite"

const driverName = "sqlite"

// openShortLived is nil: modernc.org/sqlite offers no way to set
// SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, so a short-lived process checkpoints
// after its commits instead (certstore/checkpoint.go).
var openShortLived func(sqldriver.Location) (*sql.DB, error)

func init() {
	// Commits sync with fdatasync(2) rather than fsync(2): the same
	// durability (data and the size needed to read it back), without
	// forcing a journal commit for the WAL's timestamps. It is what SQLite
	// does in every Linux distribution's build; where it is unavailable
	// (macOS, Windows) SQLite keeps fsync.
	_, _ = sqlite.Fdatasync(true)
}

// Fdatasync reports whether commits sync with fdatasync(2).
func Fdatasync() bool { return sqlite.FdatasyncEnabled() }

// pragmas are modernc.org/sqlite's DSN parameters for the settings in
// sqlite.go.
func pragmas(busy time.Duration) string {
	return fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)", busy.Milliseconds()) +
		"&_pragma=foreign_keys(on)&_pragma=synchronous(FULL)&_txlock=immediate"
}

// readOnlyPragmas: no journal_mode (changing it writes) and no immediate
// transactions (a read-only connection never takes the write lock).
func readOnlyPragmas(busy time.Duration) string {
	return fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(on)", busy.Milliseconds())
}

// codeMask keeps the primary result code of an extended code.
const codeMask = 0xff

func duplicate(err error) bool {
	se, ok := sqldriver.ErrorAs[*sqlite.Error](err)
	return ok && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func retryable(err error) bool {
	se, ok := sqldriver.ErrorAs[*sqlite.Error](err)
	if !ok {
		return false
	}
	code := se.Code() & codeMask
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// faults maps primary SQLite result codes to plain words; extended codes
// (SQLITE_READONLY_DBMOVED = 1544, SQLITE_IOERR_* ...) share their primary
// code's low byte.
var faults = map[int]error{
	sqlite3.SQLITE_FULL:     sqldriver.ErrDiskFull,
	sqlite3.SQLITE_READONLY: sqldriver.ErrReadOnly,
	sqlite3.SQLITE_IOERR:    sqldriver.ErrDiskIO,
	sqlite3.SQLITE_CANTOPEN: sqldriver.ErrCannotOpen,
	sqlite3.SQLITE_PERM:     sqldriver.ErrCannotOpen,
	sqlite3.SQLITE_AUTH:     sqldriver.ErrCannotOpen,
	sqlite3.SQLITE_CORRUPT:  sqldriver.ErrCorrupt,
	sqlite3.SQLITE_NOTADB:   sqldriver.ErrCorrupt,
}

func fault(err error) error {
	if se, ok := sqldriver.ErrorAs[*sqlite.Error](err); ok {
		return faults[se.Code()&codeMask]
	}
	return nil
}
