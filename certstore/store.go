package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Options configure a Store.
type Options struct {
	// Now is the clock used for issue/revoke times and for deriving the
	// expired status; nil means time.Now.
	Now func() time.Time
	// AuditSeal anchors the audit log outside the database (see
	// LoadAuditSeal); nil keeps an unsealed hash chain.
	AuditSeal *AuditSeal
}

// Store is the certificate inventory in one database. It is safe for
// concurrent use by many goroutines, and several processes may share one
// database (MySQL or a SQLite file).
type Store struct {
	db   *sql.DB
	loc  Location
	d    dialect
	now  func() time.Time
	seal *AuditSeal
}

// dialect holds the few places where the SQL differs between databases.
type dialect struct {
	name string
	// forUpdate is appended to SELECTs that lock the rows they read. SQLite
	// has no row locks; its BEGIN IMMEDIATE already holds the write lock.
	forUpdate string
	// upsertCRLNumber allocates the next CRL number for an issuer.
	upsertCRLNumber string
	// scanByID is a table hint that makes the planner walk the primary key
	// (newest first) instead of an index matching most of the table; see
	// Store.List.
	scanByID string
}

var (
	dialectMySQL = dialect{
		name:            DriverMySQL,
		forUpdate:       " FOR UPDATE",
		upsertCRLNumber: upsertCRLNumberMySQL,
		scanByID:        " FORCE INDEX (PRIMARY)",
	}
	dialectSQLite = dialect{
		name:            DriverSQLite,
		upsertCRLNumber: upsertCRLNumberSQLite,
		scanByID:        " NOT INDEXED",
	}
)

// Open connects to the inventory at url (see ParseURL) and checks that the
// database answers. It does not migrate; call Migrate or CheckSchema.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	loc, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	s := &Store{loc: loc, now: opts.Now, seal: opts.AuditSeal}
	if s.now == nil {
		s.now = time.Now
	}
	switch loc.Driver {
	case DriverMySQL:
		s.d = dialectMySQL
		s.db, err = openMySQL(loc.DSN)
	case DriverSQLite:
		s.d = dialectSQLite
		if err = createPrivate(loc.Path); err == nil {
			s.db, err = sql.Open(DriverSQLite, loc.DSN)
		}
	default:
		err = fmt.Errorf("unsupported driver %q", loc.Driver)
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, s.unreachable(err)
	}
	return s, nil
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

func openMySQL(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
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

// unreachable explains a failed first contact without leaking the password.
func (s *Store) unreachable(err error) error {
	if s.d.name != DriverMySQL {
		return fmt.Errorf("cannot open SQLite inventory %s: %w; check --db and that its directory exists", s.loc.Redacted, err)
	}
	host, secret := "?", ""
	if cfg, perr := mysql.ParseDSN(s.loc.DSN); perr == nil {
		host, secret = cfg.Addr, cfg.Passwd
	}
	// The driver's error is flattened to text so that nothing reachable by
	// errors.Unwrap can carry the password.
	return fmt.Errorf("cannot reach MySQL inventory at %s (%s): %s; check --db", host, s.loc.Redacted, redact(err.Error(), secret))
}

// Close closes the database handle.
func (s *Store) Close() error { return s.db.Close() }

// Dialect returns "sqlite" or "mysql".
func (s *Store) Dialect() string { return s.d.name }

// Location returns where the store is; use its Redacted field for display.
func (s *Store) Location() Location { return s.loc }

// clock returns the current time in the precision the database stores.
func (s *Store) clock() time.Time { return dbTime(s.now()) }

// maxTxAttempts bounds retries of transactions the database aborted to break
// a deadlock (InnoDB) or because the write lock stayed busy (SQLite).
const maxTxAttempts = 5

// inTx runs fn in a transaction, committing if fn returns nil. Transactions
// aborted by the database to resolve lock contention are retried, so fn must
// have no effects outside the transaction.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = s.tryTx(ctx, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt*attempt) * 5 * time.Millisecond)
	}
	return err
}

func (s *Store) tryTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return translate(tx.Commit())
}
