package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/securechat/scca/certstore/sqldriver"
)

// DriverMySQL is Location.Driver for MySQL 8 / MariaDB; its driver is
// linked by importing certstore/dialect/mysql.
const DriverMySQL = sqldriver.MySQL

// SQL that only MySQL speaks.
const (
	tableExistsMySQL     = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	upsertCRLNumberMySQL = "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)" +
		" ON DUPLICATE KEY UPDATE last_number = last_number + 1"
	reserveQueueMySQL = "INSERT INTO message_queues (recipient, queued) VALUES %s" +
		" ON DUPLICATE KEY UPDATE queued = queued + VALUES(queued)"
	reserveSenderMySQL = "INSERT INTO message_senders (sender, queued, bytes) VALUES %s" +
		" ON DUPLICATE KEY UPDATE queued = queued + VALUES(queued), bytes = bytes + VALUES(bytes)"
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
	goose:           goose.DialectMySQL,
	migrationLock:   func() (lock.SessionLocker, error) { return mysqlMigrationLock{}, nil },
	committers:      2,
	tableExists:     tableExistsMySQL,
	forUpdate:       " FOR UPDATE",
	scanByID:        " FORCE INDEX (PRIMARY)",
	upsertCRLNumber: upsertCRLNumberMySQL,
	reserveQueue:    reserveQueueMySQL,
	reserveSender:   reserveSenderMySQL,
	selectRevoked:   selectRevokedMySQL,
	cnContains:      cnContainsMySQL,
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
