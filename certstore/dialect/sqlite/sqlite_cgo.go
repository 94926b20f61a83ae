//go:build cgo

package sqlite

import (
	"fmt"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3" // registers the cgo "sqlite3" database/sql driver

	"github.com/securechat/scca/certstore/sqldriver"
)

// Driver is the SQLite driver this build links (see the package doc).
const Driver = "github.com/mattn/go-sqlite3"

const driverName = "sqlite3"

// Fdatasync reports whether commits are known to sync with fdatasync(2):
// go-sqlite3 compiles SQLite without HAVE_FDATASYNC, so a plain cgo build
// syncs with fsync(2), which is at least as durable; .ci/build.sh adds the
// flag, which Go cannot see from here.
func Fdatasync() bool { return false }

// pragmas are go-sqlite3's DSN parameters for the settings in sqlite.go.
// A DSN that does not start with "file:" is a plain path: go-sqlite3 cuts
// the parameters off and SQLite reads no URI escapes in it.
func pragmas(busy time.Duration) string {
	return fmt.Sprintf("_busy_timeout=%d&_journal_mode=WAL", busy.Milliseconds()) +
		"&_foreign_keys=on&_synchronous=FULL&_txlock=immediate"
}

// readOnlyPragmas: no journal_mode (changing it writes) and no immediate
// transactions (a read-only connection never takes the write lock).
func readOnlyPragmas(busy time.Duration) string {
	return fmt.Sprintf("_busy_timeout=%d&_foreign_keys=on", busy.Milliseconds())
}

func duplicate(err error) bool {
	se, ok := sqldriver.ErrorAs[sqlite3.Error](err)
	return ok && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

func retryable(err error) bool {
	se, ok := sqldriver.ErrorAs[sqlite3.Error](err)
	return ok && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// faults maps primary SQLite result codes (go-sqlite3's Error.Code; the
// extended code is in ExtendedCode) to plain words.
var faults = map[sqlite3.ErrNo]error{
	sqlite3.ErrFull:     sqldriver.ErrDiskFull,
	sqlite3.ErrReadonly: sqldriver.ErrReadOnly,
	sqlite3.ErrIoErr:    sqldriver.ErrDiskIO,
	sqlite3.ErrCantOpen: sqldriver.ErrCannotOpen,
	sqlite3.ErrPerm:     sqldriver.ErrCannotOpen,
	sqlite3.ErrAuth:     sqldriver.ErrCannotOpen,
	sqlite3.ErrCorrupt:  sqldriver.ErrCorrupt,
	sqlite3.ErrNotADB:   sqldriver.ErrCorrupt,
}

func fault(err error) error {
	if se, ok := sqldriver.ErrorAs[sqlite3.Error](err); ok {
		return faults[se.Code]
	}
	return nil
}
