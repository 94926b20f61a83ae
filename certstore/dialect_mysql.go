package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// DriverMySQL is Location.Driver for MySQL 8 / MariaDB.
const DriverMySQL = "mysql"

// MySQL server error numbers translated at the boundary.
const (
	mysqlErrDupEntry = 1062 // ER_DUP_ENTRY
	mysqlErrLockWait = 1205 // ER_LOCK_WAIT_TIMEOUT
	mysqlErrDeadlock = 1213 // ER_LOCK_DEADLOCK
)

// SQL that only MySQL speaks.
const (
	tableExistsMySQL     = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	upsertCRLNumberMySQL = "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)" +
		" ON DUPLICATE KEY UPDATE last_number = last_number + 1"
	reserveQueueMySQL = "INSERT INTO message_queues (recipient, queued) VALUES %s" +
		" ON DUPLICATE KEY UPDATE queued = queued + VALUES(queued)"
	// selectRevokedMySQL gets revoked_at as time.Time (parseTime is forced).
	selectRevokedMySQL = "SELECT serial, revoked_at, reason FROM certificates" +
		" WHERE issuer_key_id = ? AND status = 'revoked' ORDER BY id"
	// The columns' utf8mb4_unicode_ci collation makes LIKE case-insensitive.
	cnContainsMySQL = "cn LIKE ? ESCAPE '!'"

	// MySQL's named locks are server-wide, so the name includes the
	// database; GET_LOCK names are limited to 64 characters.
	migrationLockName = "LEFT(CONCAT('scca_migrate.', DATABASE()), 64)"
	getMigrationLock  = "SELECT GET_LOCK(" + migrationLockName + ", ?)"
	releaseMigration  = "SELECT RELEASE_LOCK(" + migrationLockName + ")"
)

// migrationLockWait is how long Migrate waits for another process's Migrate.
const migrationLockWait = 60 // seconds

var mysqlDialect = dialect{
	name:            DriverMySQL,
	example:         "mysql://USER@HOST:PORT/DB",
	parse:           parseMySQL,
	open:            openMySQL,
	unreachable:     unreachableMySQL,
	goose:           goose.DialectMySQL,
	migrationLock:   func() (lock.SessionLocker, error) { return mysqlMigrationLock{}, nil },
	tableExists:     tableExistsMySQL,
	forUpdate:       " FOR UPDATE",
	scanByID:        " FORCE INDEX (PRIMARY)",
	upsertCRLNumber: upsertCRLNumberMySQL,
	reserveQueue:    reserveQueueMySQL,
	selectRevoked:   selectRevokedMySQL,
	cnContains:      cnContainsMySQL,
	duplicate: func(err error) bool {
		me, ok := errorAs[*mysql.MySQLError](err)
		return ok && me.Number == mysqlErrDupEntry
	},
	retryable: func(err error) bool {
		me, ok := errorAs[*mysql.MySQLError](err)
		return ok && (me.Number == mysqlErrDeadlock || me.Number == mysqlErrLockWait)
	},
}

// parseMySQL recognises mysql:// URLs and go-sql-driver DSNs.
func parseMySQL(raw string) (Location, bool, error) {
	switch {
	case strings.HasPrefix(raw, "mysql://"):
		loc, err := parseMySQLURL(raw)
		return loc, true, err
	case strings.Contains(raw, "@tcp(") || strings.Contains(raw, "@unix(") || strings.Contains(raw, "@/"):
		loc, err := parseMySQLDSN(raw)
		return loc, true, err
	}
	return Location{}, false, nil
}

func openMySQL(loc Location) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(loc.DSN)
	if err != nil {
		return nil, errors.New("invalid mysql DSN") // ParseURL built it; never echo it
	}
	// The driver logs some network errors itself; a library must not print.
	cfg.Logger = log.New(io.Discard, "", 0)
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, errors.New("invalid mysql configuration")
	}
	db := sql.OpenDB(conn)
	// Servers and proxies drop idle connections; recycle before they do.
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetMaxIdleConns(8)
	return db, nil
}

// unreachableMySQL flattens the driver's error to text so that nothing
// reachable by errors.Unwrap can carry the password.
func unreachableMySQL(loc Location, err error) error {
	host, secret := "?", ""
	if cfg, perr := mysql.ParseDSN(loc.DSN); perr == nil {
		host, secret = cfg.Addr, cfg.Passwd
	}
	return fmt.Errorf("%w: cannot reach MySQL inventory at %s (%s): %s", ErrUnreachable, host, loc.Redacted, redact(err.Error(), secret))
}

// mysqlMigrationLock serialises Migrate across processes with GET_LOCK,
// held by the connection goose runs the migrations on.
type mysqlMigrationLock struct{}

func (mysqlMigrationLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, getMigrationLock, migrationLockWait).Scan(&got); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("take migration lock: another process has been migrating this database for over a minute")
	}
	return nil
}

func (mysqlMigrationLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullInt64
	if err := conn.QueryRowContext(ctx, releaseMigration).Scan(&released); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	return nil
}
