//go:build cgo

package sqlite

// go-sqlite3 has no binding for sqlite3_db_config; the declaration below is
// sqlite3.h's, and the linker finds the function in go-sqlite3's SQLite.
// 1006 is SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE (sqlite3.h), an option SQLite
// has had since 3.16.

/*
typedef struct sqlite3 sqlite3;
int sqlite3_db_config(sqlite3*, int op, ...);

static int scca_no_ckpt_on_close(void *db) {
	int on = 0;
	int rc = sqlite3_db_config((sqlite3 *)db, 1006, 1, &on);
	if (rc != 0) return rc;
	return on == 1 ? 0 : -1;
}
*/
import "C"

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3" // registers the cgo "sqlite3" database/sql driver

	"github.com/securechat/scca/certstore/sqldriver"
)

// Driver is the SQLite driver this build links (see the package doc).
const Driver = "github.com/mattn/go-sqlite3"

const driverName = "sqlite3"

// driverNameShortLived is go-sqlite3 registered once more, with a connect
// hook that turns off the checkpoint at close (openShortLived).
const driverNameShortLived = "sqlite3-scca-short-lived"

func init() {
	sql.Register(driverNameShortLived, &sqlite3.SQLiteDriver{ConnectHook: noCheckpointOnClose})
}

// openShortLived opens loc for a process that commits a few times and
// exits (sqldriver.Driver.OpenShortLived): its connections do not
// checkpoint the WAL when they close, so the command ends without the two
// device flushes of that checkpoint (WAL, then database file) and the next
// command appends to the same WAL without the sync of a fresh WAL header.
// The store truncates the WAL once it has grown (certstore/checkpoint.go).
func openShortLived(loc sqldriver.Location) (*sql.DB, error) {
	return openAs(driverNameShortLived, loc)
}

// noCheckpointOnClose sets SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE on a new
// connection. go-sqlite3 keeps the sqlite3* handle in its unexported field
// db; this reads it by reflection, and a go-sqlite3 that renamed it fails
// here, loudly, rather than silently checkpointing (go.mod pins the
// version; certstore's TestShortLived checks the effect).
func noCheckpointOnClose(c *sqlite3.SQLiteConn) error {
	f := reflect.ValueOf(c).Elem().FieldByName("db")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return errors.New("go-sqlite3 connection has no sqlite3 handle to configure")
	}
	if rc := C.scca_no_ckpt_on_close(f.UnsafePointer()); rc != 0 {
		return fmt.Errorf("sqlite3_db_config(NO_CKPT_ON_CLOSE) failed (%d)", int(rc))
	}
	return nil
}

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
