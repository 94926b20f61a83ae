package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Options configure a Store.
type Options struct {
	// Now is the clock used for issue/revoke times and for deriving the
	// expired status; nil means time.Now.
	Now func() time.Time
	// Timeout bounds connecting and each read or write on the database
	// connection; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Store is the certificate inventory in one database. It is safe for
// concurrent use by many goroutines, and several processes may share one
// database (MySQL or a SQLite file).
type Store struct {
	db  *sql.DB
	loc Location
	d   dialect
	now func() time.Time
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
	s := &Store{loc: loc, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	dsn, err := applyTimeout(loc, opts.timeout())
	if err != nil {
		return nil, err
	}
	switch loc.Driver {
	case DriverMySQL:
		s.d = dialectMySQL
		s.db, err = openMySQL(dsn)
	case DriverSQLite:
		s.d = dialectSQLite
		s.db, err = sql.Open(DriverSQLite, dsn)
	default:
		err = fmt.Errorf("unsupported driver %q", loc.Driver)
	}
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		s.db.Close()
		return nil, s.unreachable(err, opts.timeout())
	}
	return s, nil
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
func (s *Store) unreachable(err error, timeout time.Duration) error {
	f := fault(err)
	if s.d.name != DriverMySQL {
		if f == nil {
			f = ErrCannotOpen
		}
		return fmt.Errorf("%w: %s: %w", f, s.loc.Redacted, err)
	}
	host, secret := "?", ""
	if cfg, perr := mysql.ParseDSN(s.loc.DSN); perr == nil {
		host, secret = cfg.Addr, cfg.Passwd
	}
	// The driver's error is flattened to text so that nothing reachable by
	// errors.Unwrap can carry the password.
	msg := redact(err.Error(), secret)
	switch f {
	case ErrTimeout:
		return fmt.Errorf("%w (MySQL %s, bound %s): %s", f, s.loc.Redacted, timeout, msg)
	case ErrAccessDenied, ErrNoDatabase:
		// The server answered: it is reachable, it said no.
		return fmt.Errorf("%w: MySQL at %s (%s): %s", f, host, s.loc.Redacted, msg)
	}
	return fmt.Errorf("cannot reach MySQL inventory at %s (%s): %s", host, s.loc.Redacted, msg)
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
