package certstore

import (
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/securechat/scca/certstore/sqldriver"
)

// DriverPostgres is Location.Driver for PostgreSQL; its driver is linked
// by importing certstore/dialect/postgres.
const DriverPostgres = sqldriver.Postgres

// SQL that only PostgreSQL speaks. In ON CONFLICT ... DO UPDATE the target
// table's columns are qualified, since excluded.* has the same names.
const (
	tableExistsPostgres = "SELECT COUNT(*) FROM information_schema.tables" +
		" WHERE table_schema = current_schema() AND table_name = ?"
	upsertCRLNumberPostgres = "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)" +
		" ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = crl_numbers.last_number + 1"
	reserveQueuePostgres = "INSERT INTO message_queues (recipient, queued) VALUES %s" +
		" ON CONFLICT (recipient) DO UPDATE SET queued = message_queues.queued + excluded.queued"
	reserveSenderPostgres = "INSERT INTO message_senders (sender, queued, bytes) VALUES %s" +
		" ON CONFLICT (sender) DO UPDATE SET queued = message_senders.queued + excluded.queued," +
		" bytes = message_senders.bytes + excluded.bytes"
	selectRevokedPostgres = "SELECT serial, revoked_at, reason FROM certificates" +
		" WHERE issuer_key_id = ? AND status = 'revoked' ORDER BY id"
	// PostgreSQL's LIKE is case-sensitive; ILIKE matches the other two.
	cnContainsPostgres = "cn ILIKE ? ESCAPE '!'"
)

var postgresDialect = dialect{
	name:    DriverPostgres,
	example: "postgres://USER@HOST:PORT/DB",
	goose:   goose.DialectPostgres,
	// goose's session locker takes a pg_advisory_lock on the connection
	// that runs the migrations.
	migrationLock:   func() (lock.SessionLocker, error) { return lock.NewPostgresSessionLocker() },
	committers:      2,
	tableExists:     tableExistsPostgres,
	forUpdate:       " FOR UPDATE",
	upsertCRLNumber: upsertCRLNumberPostgres,
	reserveQueue:    reserveQueuePostgres,
	reserveSender:   reserveSenderPostgres,
	selectRevoked:   selectRevokedPostgres,
	cnContains:      cnContainsPostgres,
}
