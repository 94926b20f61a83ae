package certstore

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite" // also registers the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// DriverSQLite is Location.Driver for an embedded SQLite file.
const DriverSQLite = "sqlite"

// sqlitePragmas are applied by modernc.org/sqlite on every new connection.
// busy_timeout makes a writer wait for another process's transaction instead
// of failing with SQLITE_BUSY; WAL lets readers run beside the one writer;
// _txlock=immediate makes every transaction BEGIN IMMEDIATE, so the write
// lock is taken up front and read-then-write transactions cannot deadlock.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(on)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// SQL that only SQLite speaks.
const (
	tableExistsSQLite     = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	upsertCRLNumberSQLite = "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)" +
		" ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = last_number + 1"
	reserveQueueSQLite = "INSERT INTO message_queues (recipient, queued) VALUES %s" +
		" ON CONFLICT (recipient) DO UPDATE SET queued = queued + excluded.queued"
	// selectRevokedSQLite reads revoked_at as text, which the driver hands
	// over as is instead of trying several time layouts on it.
	selectRevokedSQLite = "SELECT serial, CAST(revoked_at AS TEXT), reason FROM certificates" +
		" WHERE issuer_key_id = ? AND status = 'revoked' ORDER BY id"
	// SQLite's LIKE is case-insensitive for ASCII already.
	cnContainsSQLite = "cn LIKE ? ESCAPE '!'"
)

// sqliteCodeMask keeps the primary result code of an extended code.
const sqliteCodeMask = 0xff

var sqliteDialect = dialect{
	name:            DriverSQLite,
	example:         "sqlite:PATH",
	parse:           parseSQLiteURL,
	open:            openSQLite,
	unreachable:     unreachableSQLite,
	goose:           goose.DialectSQLite3,
	tableExists:     tableExistsSQLite,
	scanByID:        " NOT INDEXED",
	upsertCRLNumber: upsertCRLNumberSQLite,
	reserveQueue:    reserveQueueSQLite,
	selectRevoked:   selectRevokedSQLite,
	cnContains:      cnContainsSQLite,
	duplicate: func(err error) bool {
		se, ok := errorAs[*sqlite.Error](err)
		return ok && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	retryable: func(err error) bool {
		se, ok := errorAs[*sqlite.Error](err)
		code := 0
		if ok {
			code = se.Code() & sqliteCodeMask
		}
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	},
}

func parseSQLiteURL(raw string) (Location, bool, error) {
	path, ok := strings.CutPrefix(raw, "sqlite:")
	if !ok {
		return Location{}, false, nil
	}
	if p, ok := strings.CutPrefix(path, "//"); ok {
		path = p // sqlite:///abs/path → /abs/path
	}
	if path == "" {
		return Location{}, true, errors.New("sqlite URL has no file path (want sqlite:PATH)")
	}
	// modernc.org/sqlite splits its DSN at the first '?', so a path holding
	// one cannot be expressed.
	if strings.ContainsAny(path, "?#") {
		return Location{}, true, fmt.Errorf("sqlite path %q must not contain '?' or '#'", path)
	}
	return Location{
		Driver:   DriverSQLite,
		DSN:      path + "?" + sqlitePragmas,
		Redacted: "sqlite:" + path,
		Path:     path,
	}, true, nil
}

func unreachableSQLite(loc Location, err error) error {
	return fmt.Errorf("%w: cannot open SQLite inventory %s: %w", ErrUnreachable, loc.Redacted, err)
}

func openSQLite(loc Location) (*sql.DB, error) {
	if err := createPrivate(loc.Path); err != nil {
		return nil, err
	}
	return sql.Open(DriverSQLite, loc.DSN)
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
