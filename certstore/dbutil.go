package certstore

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// MySQL server error numbers translated at the boundary.
const (
	mysqlErrDupEntry  = 1062 // ER_DUP_ENTRY
	mysqlErrLockWait  = 1205 // ER_LOCK_WAIT_TIMEOUT
	mysqlErrDeadlock  = 1213 // ER_LOCK_DEADLOCK
	sqliteCodeMask    = 0xff // primary result code of an extended code
	sqliteUniqueError = sqlite3.SQLITE_CONSTRAINT_UNIQUE
)

// translate maps driver errors callers branch on to this package's
// sentinels, keeping the driver error in the chain for diagnostics.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == mysqlErrDupEntry {
		return fmt.Errorf("%w: %w", ErrDuplicate, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqliteUniqueError || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return fmt.Errorf("%w: %w", ErrDuplicate, err)
	}
	return explain(err)
}

// retryable reports whether the database aborted a transaction only to
// resolve lock contention, so running it again is correct.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == mysqlErrDeadlock || me.Number == mysqlErrLockWait
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & sqliteCodeMask
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

// timeLayout is how times are sent to both databases: UTC, microseconds,
// fixed width. MySQL stores it in DATETIME(6); SQLite keeps the text, whose
// byte order is then time order.
const timeLayout = "2006-01-02 15:04:05.000000"

// dbTime is t in the precision and zone the database keeps.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeArg formats t as a query argument.
func timeArg(t time.Time) string { return dbTime(t).Format(timeLayout) }

// nullTimeArg is timeArg for a nullable column.
func nullTimeArg(t *time.Time) driver.Value {
	if t == nil {
		return nil
	}
	return timeArg(*t)
}

// timeLayouts are the text forms a time column may come back in: ours, and
// the shorter one SQLite's datetime('now') writes (goose's version table).
var timeLayouts = []string{timeLayout, "2006-01-02 15:04:05.999999999", time.RFC3339Nano}

// scanTime scans a (nullable) time column from either driver: MySQL with
// parseTime returns time.Time, modernc returns time.Time or text.
type scanTime struct {
	t     *time.Time
	valid bool
}

func (st *scanTime) Scan(src any) error {
	st.valid = src != nil
	switch v := src.(type) {
	case nil:
		return nil
	case time.Time:
		*st.t = dbTime(v)
		return nil
	case []byte:
		return st.parse(string(v))
	case string:
		return st.parse(v)
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
}

func (st *scanTime) parse(v string) error {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			*st.t = dbTime(t)
			return nil
		}
	}
	return fmt.Errorf("cannot parse time %q", v)
}
