package certstore

import (
	"github.com/pressly/goose/v3"

	"github.com/securechat/scca/certstore/sqldriver"
)

// DriverSQLite is Location.Driver for an embedded SQLite file; its driver
// is linked by importing certstore/dialect/sqlite.
const DriverSQLite = sqldriver.SQLite

// SQL that only SQLite speaks.
const (
	tableExistsSQLite     = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	upsertCRLNumberSQLite = "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)" +
		" ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = last_number + 1"
	reserveQueueSQLite = "INSERT INTO message_queues (recipient, queued) VALUES %s" +
		" ON CONFLICT (recipient) DO UPDATE SET queued = queued + excluded.queued"
	reserveSenderSQLite = "INSERT INTO message_senders (sender, queued, bytes) VALUES %s" +
		" ON CONFLICT (sender) DO UPDATE SET queued = queued + excluded.queued, bytes = bytes + excluded.bytes"
	// selectRevokedSQLite reads revoked_at as text, which the driver hands
	// over as is instead of trying several time layouts on it.
	selectRevokedSQLite = "SELECT serial, CAST(revoked_at AS TEXT), reason FROM certificates" +
		" WHERE issuer_key_id = ? AND status = 'revoked' ORDER BY id"
	// SQLite's LIKE is case-insensitive for ASCII already.
	cnContainsSQLite = "cn LIKE ? ESCAPE '!'"
)

var sqliteDialect = dialect{
	name:            DriverSQLite,
	example:         "sqlite:PATH",
	goose:           goose.DialectSQLite3,
	committers:      1,
	tableExists:     tableExistsSQLite,
	scanByID:        " NOT INDEXED",
	upsertCRLNumber: upsertCRLNumberSQLite,
	reserveQueue:    reserveQueueSQLite,
	reserveSender:   reserveSenderSQLite,
	selectRevoked:   selectRevokedSQLite,
	cnContains:      cnContainsSQLite,
}
