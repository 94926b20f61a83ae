package certstore

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// DriverPostgres is Location.Driver for PostgreSQL.
const DriverPostgres = "postgres"

// PostgreSQL SQLSTATE codes translated at the boundary (Appendix A of the
// PostgreSQL manual).
const (
	pgUniqueViolation      = "23505"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
)

// Connection settings forced on every PostgreSQL session: times are
// TIMESTAMP(6) WITHOUT TIME ZONE in UTC, and goose's version table defaults
// its timestamps to now(), which follows the session time zone.
const (
	pgTimeZone       = "UTC"
	pgConnectTimeout = 5 * time.Second
	pgDefaultPort    = "5432"
)

// SQL that only PostgreSQL speaks. In ON CONFLICT ... DO UPDATE the target
// table's columns are qualified, since excluded.* has the same names.
const (
	tableExistsPostgres = "SELECT COUNT(*) FROM information_schema.tables" +
		" WHERE table_schema = current_schema() AND table_name = ?"
	upsertCRLNumberPostgres = "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1)" +
		" ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = crl_numbers.last_number + 1"
	reserveQueuePostgres = "INSERT INTO message_queues (recipient, queued) VALUES %s" +
		" ON CONFLICT (recipient) DO UPDATE SET queued = message_queues.queued + excluded.queued"
	selectRevokedPostgres = "SELECT serial, revoked_at, reason FROM certificates" +
		" WHERE issuer_key_id = ? AND status = 'revoked' ORDER BY id"
	// PostgreSQL's LIKE is case-sensitive; ILIKE matches the other two.
	cnContainsPostgres = "cn ILIKE ? ESCAPE '!'"
)

var postgresDialect = dialect{
	name:        DriverPostgres,
	example:     "postgres://USER@HOST:PORT/DB",
	parse:       parsePostgresURL,
	open:        openPostgres,
	unreachable: unreachablePostgres,
	goose:       goose.DialectPostgres,
	// goose's session locker takes a pg_advisory_lock on the connection
	// that runs the migrations.
	migrationLock:   func() (lock.SessionLocker, error) { return lock.NewPostgresSessionLocker() },
	tableExists:     tableExistsPostgres,
	forUpdate:       " FOR UPDATE",
	upsertCRLNumber: upsertCRLNumberPostgres,
	reserveQueue:    reserveQueuePostgres,
	selectRevoked:   selectRevokedPostgres,
	cnContains:      cnContainsPostgres,
	duplicate: func(err error) bool {
		pe, ok := errorAs[*pgconn.PgError](err)
		return ok && pe.Code == pgUniqueViolation
	},
	retryable: func(err error) bool {
		pe, ok := errorAs[*pgconn.PgError](err)
		return ok && (pe.Code == pgSerializationFailure || pe.Code == pgDeadlockDetected || pe.Code == pgLockNotAvailable)
	},
}

// parsePostgresURL recognises postgres:// and postgresql:// URLs. Location.DSN
// is the URL as given; openPostgres forces the session settings.
func parsePostgresURL(raw string) (Location, bool, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return Location{}, false, nil
	}
	const want = " (want postgres://USER[:PASS]@HOST:PORT/DB)"
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, true, errBadPostgresURL
	}
	switch db := strings.TrimPrefix(u.Path, "/"); {
	case u.User == nil || u.User.Username() == "":
		return Location{}, true, errors.New("postgres URL has no user" + want)
	case u.Hostname() == "":
		return Location{}, true, errors.New("postgres URL has no host" + want)
	case db == "" || strings.Contains(db, "/"):
		return Location{}, true, errors.New("postgres URL needs exactly one database name" + want)
	}
	if _, err := pgx.ParseConfig(raw); err != nil {
		return Location{}, true, errBadPostgresURL
	}
	user := u.User.Username()
	if _, ok := u.User.Password(); ok {
		user += ":" + redactedPassword
	}
	addr := net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), pgDefaultPort))
	return Location{
		Driver:   DriverPostgres,
		DSN:      raw,
		Redacted: "postgres://" + user + "@" + addr + u.Path,
	}, true, nil
}

func openPostgres(loc Location) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(loc.DSN)
	if err != nil {
		return nil, errors.New("invalid postgres URL") // ParseURL checked it; never echo it
	}
	cfg.RuntimeParams["timezone"] = pgTimeZone
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > pgConnectTimeout {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	// The store writes '?' placeholders; the connector rewrites them to $n.
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetMaxIdleConns(8)
	return db, nil
}

// unreachablePostgres flattens the driver's error to text so that nothing
// reachable by errors.Unwrap can carry the password.
func unreachablePostgres(loc Location, err error) error {
	host, secret := "?", urlPassword(loc.DSN)
	if u, perr := url.Parse(loc.DSN); perr == nil {
		host = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), pgDefaultPort))
	}
	return fmt.Errorf("%w: cannot reach PostgreSQL inventory at %s (%s): %s", ErrUnreachable, host, loc.Redacted, redact(err.Error(), secret))
}
