// Package sqlite links the pure-Go SQLite driver (modernc.org/sqlite) into
// a program and registers it with the inventory (package certstore):
// import it for its side effect to use sqlite:PATH inventories.
package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite" // also registers the pure-Go "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/securechat/scca/certstore/sqldriver"
)

func init() { sqldriver.Register(&driver) }

// pragmas are applied by modernc.org/sqlite on every new connection.
// busy_timeout makes a writer wait for another process's transaction instead
// of failing with SQLITE_BUSY; WAL lets readers run beside the one writer;
// _txlock=immediate makes every transaction BEGIN IMMEDIATE, so the write
// lock is taken up front and read-then-write transactions cannot deadlock.
const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(on)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// codeMask keeps the primary result code of an extended code.
const codeMask = 0xff

var driver = sqldriver.Driver{
	Name:        sqldriver.SQLite,
	Parse:       parseURL,
	Open:        func(loc sqldriver.Location) (*sql.DB, error) { return sql.Open(sqldriver.SQLite, loc.DSN) },
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
