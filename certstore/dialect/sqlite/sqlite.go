// Package sqlite links the pure-Go SQLite driver (modernc.org/sqlite) into
// a program and registers it with the inventory (package certstore):
// import it for its side effect to use sqlite:PATH inventories.
package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the pure-Go "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/securechat/scca/certstore/sqldriver"
)

func init() {
	sqldriver.Register(&sqliteDriver)
	// Commits sync with fdatasync(2) rather than fsync(2): the same
	// durability (data and the size needed to read it back), without
	// forcing a journal commit for the WAL's timestamps. It is what SQLite
	// does in every Linux distribution's build; where it is unavailable
	// (macOS, Windows) SQLite keeps fsync and the error says only that.
	_, _ = sqlite.Fdatasync(true)
}

// pragmas are applied by modernc.org/sqlite on every new connection.
// busy_timeout makes a writer wait for another process's transaction instead
// of failing with SQLITE_BUSY; WAL lets readers run beside the one writer;
// _txlock=immediate makes every transaction BEGIN IMMEDIATE, so the write
// lock is taken up front and read-then-write transactions cannot deadlock.
//
// synchronous=FULL: a commit returns only after its WAL frames are synced,
// so a committed issuance or revocation survives a power cut, and it is
// durable before the key and certificate files that it vouches for are
// linked and before the audit anchor names it (with NORMAL a commit was
// durable only at the next checkpoint, here when the command closed the
// store, after those files). It costs one sync per commit, the one the
// README's fsync table lists for the inventory.
const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(on)&_pragma=synchronous(FULL)&_txlock=immediate"

// codeMask keeps the primary result code of an extended code.
const codeMask = 0xff

var sqliteDriver = sqldriver.Driver{
	Name:        sqldriver.SQLite,
	Parse:       parseURL,
	Open:        open,
	Unreachable: unreachable,
	Duplicate: func(err error) bool {
		se, ok := sqldriver.ErrorAs[*sqlite.Error](err)
		return ok && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	Retryable: func(err error) bool {
		se, ok := sqldriver.ErrorAs[*sqlite.Error](err)
		code := 0
		if ok {
			code = se.Code() & codeMask
		}
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	},
	Fault: fault,
	Bound: bound,
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

// bound makes a writer wait at most d for another process's lock (SQLite's
// busy timeout) instead of the default in pragmas.
func bound(loc sqldriver.Location, d time.Duration) (sqldriver.Location, error) {
	loc.DSN = strings.Replace(loc.DSN, "busy_timeout(10000)", fmt.Sprintf("busy_timeout(%d)", d.Milliseconds()), 1)
	return loc, nil
}

func parseURL(raw string) (sqldriver.Location, bool, error) {
	path, ok := strings.CutPrefix(raw, "sqlite:")
	if !ok {
		return sqldriver.Location{}, false, nil
	}
	if p, ok := strings.CutPrefix(path, "//"); ok {
		path = p // sqlite:///abs/path → /abs/path
	}
	if path == "" {
		return sqldriver.Location{}, true, errors.New("sqlite URL has no file path (want sqlite:PATH)")
	}
	// modernc.org/sqlite splits its DSN at the first '?', so a path holding
	// one cannot be expressed.
	if strings.ContainsAny(path, "?#") {
		return sqldriver.Location{}, true, fmt.Errorf("sqlite path %q must not contain '?' or '#'", path)
	}
	return sqldriver.Location{
		Driver:   sqldriver.SQLite,
		DSN:      path + "?" + pragmas,
		Redacted: "sqlite:" + path,
		Path:     path,
	}, true, nil
}

func unreachable(loc sqldriver.Location, err error) error {
	return fmt.Errorf("%w: cannot open SQLite inventory %s: %w", sqldriver.ErrUnreachable, loc.Redacted, err)
}

func open(loc sqldriver.Location) (*sql.DB, error) {
	if err := createPrivate(loc.Path); err != nil {
		return nil, err
	}
	return sql.Open(sqldriver.SQLite, loc.DSN)
}

// createPrivate creates a new SQLite inventory file readable by its owner
// only, before SQLite does with its default 0644: the inventory holds every
// certificate and the audit log. SQLite gives the -wal and -shm files it
// creates later the database file's mode, so they are 0600 too. An existing
// file is left as it is; a missing directory is left for SQLite to report.
func createPrivate(path string) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("create SQLite inventory %s: %w", path, err)
	}
}
