package certstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Faults of the database or its disk, in plain words. They wrap the
// driver's error; the CLI adds what to do about each.
var (
	ErrTimeout      = errors.New("the inventory did not answer in time")
	ErrDiskFull     = errors.New("the disk holding the inventory is full")
	ErrReadOnly     = errors.New("the inventory is read-only (read-only file, directory or mount, or the file was moved or replaced)")
	ErrDiskIO       = errors.New("input/output error on the inventory's disk")
	ErrCannotOpen   = errors.New("the inventory file cannot be opened")
	ErrCorrupt      = errors.New("the inventory file is damaged or not a SQLite database")
	ErrAccessDenied = errors.New("the database server refused the login")
	ErrNoDatabase   = errors.New("the database does not exist on the server")
)

// MySQL server errors about the login and the database.
const (
	mysqlErrAccessDenied   = 1045 // ER_ACCESS_DENIED_ERROR
	mysqlErrDBAccessDenied = 1044 // ER_DBACCESS_DENIED_ERROR
	mysqlErrBadDB          = 1049 // ER_BAD_DB_ERROR
)

// sqliteFaults maps primary SQLite result codes to plain words; extended
// codes (SQLITE_READONLY_DBMOVED = 1544, SQLITE_IOERR_* ...) share their
// primary code's low byte.
var sqliteFaults = map[int]error{
	sqlite3.SQLITE_FULL:     ErrDiskFull,
	sqlite3.SQLITE_READONLY: ErrReadOnly,
	sqlite3.SQLITE_IOERR:    ErrDiskIO,
	sqlite3.SQLITE_CANTOPEN: ErrCannotOpen,
	sqlite3.SQLITE_PERM:     ErrCannotOpen,
	sqlite3.SQLITE_AUTH:     ErrCannotOpen,
	sqlite3.SQLITE_CORRUPT:  ErrCorrupt,
	sqlite3.SQLITE_NOTADB:   ErrCorrupt,
}

// fault names the database or disk fault behind err, or returns nil.
func fault(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		if f, ok := sqliteFaults[se.Code()&sqliteCodeMask]; ok {
			return f
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case mysqlErrAccessDenied:
			return ErrAccessDenied
		case mysqlErrDBAccessDenied, mysqlErrBadDB:
			return ErrNoDatabase
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return ErrDiskFull
	case errors.Is(err, syscall.EROFS):
		return ErrReadOnly
	case errors.Is(err, syscall.EIO):
		return ErrDiskIO
	case IsTimeout(err):
		return ErrTimeout
	}
	return nil
}

// explain prefixes err with its fault in plain words, when it has one.
func explain(err error) error {
	if f := fault(err); f != nil && !errors.Is(err, f) {
		return fmt.Errorf("%w: %w", f, err)
	}
	return err
}

// DefaultTimeout bounds each database exchange when Options.Timeout is 0:
// connecting, and every read or write on the connection (so a statement
// whose answer stops coming fails after this long instead of hanging).
const DefaultTimeout = 15 * time.Second

// timeout returns the effective deadline of opts.
func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// applyTimeout puts the deadline into the driver's settings: MySQL's dial,
// read and write timeouts, SQLite's busy timeout (how long to wait for
// another process's lock).
func applyTimeout(loc Location, d time.Duration) (string, error) {
	switch loc.Driver {
	case DriverMySQL:
		cfg, err := mysql.ParseDSN(loc.DSN)
		if err != nil {
			return "", errors.New("invalid mysql DSN") // never echo it
		}
		cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = d, d, d
		return cfg.FormatDSN(), nil
	case DriverSQLite:
		ms := fmt.Sprintf("busy_timeout(%d)", d.Milliseconds())
		return strings.Replace(loc.DSN, "busy_timeout(10000)", ms, 1), nil
	}
	return loc.DSN, nil
}

// IsTimeout reports whether err means the database did not answer in time:
// a deadline passed, or the MySQL driver gave up on a connection that
// stopped answering (it reports a read timeout as an invalid connection).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// unreachable explains a failed first contact without leaking the password:
// the dialect's words, preceded by the fault in plain words when there is
// one. A refused login or an unknown database is not "cannot reach": the
// server answered.
func (s *Store) unreachable(err error, timeout time.Duration) error {
	f := fault(err)
	switch f {
	case nil:
		return s.d.unreachable(s.loc, err)
	case ErrTimeout:
		return fmt.Errorf("%w (%s, bound %s): %w", f, s.loc.Redacted, timeout, s.d.unreachable(s.loc, err))
	case ErrAccessDenied, ErrNoDatabase:
		host, secret := "?", ""
		if cfg, perr := mysql.ParseDSN(s.loc.DSN); perr == nil {
			host, secret = cfg.Addr, cfg.Passwd
		}
		// Flattened to text: nothing reachable by errors.Unwrap may carry
		// the password.
		return fmt.Errorf("%w: the server at %s answered for %s: %s", f, host, s.loc.Redacted, redact(err.Error(), secret))
	}
	return fmt.Errorf("%w: %w", f, s.d.unreachable(s.loc, err))
}
