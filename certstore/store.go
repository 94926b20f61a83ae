package certstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/securechat/scca/certstore/sqldriver"
)

// ErrUnreachable is wrapped by Open when the database does not answer (a
// server that is down or refuses the user, a SQLite file that cannot be
// created).
var ErrUnreachable = sqldriver.ErrUnreachable

// Options configure a Store.
type Options struct {
	// Now is the clock used for issue/revoke times and for deriving the
	// expired status; nil means time.Now.
	Now func() time.Time
	// Timeout bounds connecting and each read or write on the database
	// connection; 0 means DefaultTimeout.
	Timeout time.Duration
	// AuditSeal anchors the audit log outside the database (see
	// LoadAuditSeal); nil keeps an unsealed hash chain.
	AuditSeal *AuditSeal
	// AnchorFailed is told, with an error wrapping ErrAnchorNotAdvanced,
	// of each commit after which the audit anchor could not be moved
	// forward (a certs dir that is read-only or full). The change itself
	// is committed, so the call that made it still succeeds; the anchor
	// lags, guarding only older entries, until a later commit moves it.
	// nil ignores such failures. It may be called from the store's own
	// goroutines.
	AnchorFailed func(error)
	// ReadOnly opens an SQLite inventory read-only, creating no file (see
	// openSQLiteReadOnly): for commands that only read, so they work on a
	// read-only certs dir or mount. Ignored for database servers, where the
	// grants decide.
	ReadOnly bool
	// ShortLived, for a process that writes an SQLite inventory a few
	// times and exits (a CLI command), spares it the device flushes SQLite
	// spends on its WAL at the end of every process: the WAL is left to
	// the next process (truncated once it has grown), or, where the driver
	// cannot leave it, checkpointed in the background after each commit
	// (see checkpointer). Durability is unchanged. Ignored for database
	// servers and read-only stores. A long-running server leaves it off:
	// SQLite's automatic checkpoints every 1000 pages cost fewer syncs.
	ShortLived bool
}

// Store is the certificate inventory in one database. It is safe for
// concurrent use by many goroutines, and several processes may share one
// database (MySQL or a SQLite file).
type Store struct {
	db   *sql.DB
	loc  Location
	d    *dialect
	now  func() time.Time
	seal *AuditSeal

	onAnchorFailed func(error) // Options.AnchorFailed

	commit committer // batches Insert and Supersede (groupcommit.go)

	timeout         time.Duration // Options.Timeout, defaulted
	leaveWAL        bool          // ShortLived: connections leave the WAL at close
	ckptAfterCommit bool          // ShortLived, where the WAL cannot be left
	ckpt            checkpointer
	wal             walName // the WAL's name made durable (walname.go)
	file            string  // SQLite: the database file, symbolic links resolved

	immutable bool // read-only SQLite opened immutable
}

// Open connects to the inventory at url (see ParseURL) and checks that the
// database answers. It does not migrate; call Migrate or CheckSchema.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	loc, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	s := &Store{loc: loc, now: opts.Now, seal: opts.AuditSeal, onAnchorFailed: opts.AnchorFailed, timeout: opts.timeout()}
	if s.now == nil {
		s.now = time.Now
	}
	var drv *sqldriver.Driver
	if s.d, drv, err = dialectNamed(loc.Driver); err != nil {
		return nil, err
	}
	bounded, err := applyTimeout(drv, loc, s.timeout)
	if err != nil {
		return nil, err
	}
	writable := !opts.ReadOnly || loc.Driver != DriverSQLite
	if loc.Driver == DriverSQLite {
		s.file = resolvedPath(loc.Path)
	}
	if short := opts.ShortLived && writable && loc.Driver == DriverSQLite; short {
		s.leaveWAL = drv.OpenShortLived != nil
		s.ckptAfterCommit = !s.leaveWAL
	}
	switch {
	case !writable:
		s.db, s.immutable, err = openSQLiteReadOnly(drv, loc, s.file)
	case s.leaveWAL:
		s.db, err = drv.OpenShortLived(bounded)
	default:
		s.db, err = drv.Open(bounded)
	}
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		s.db.Close()
		return nil, s.unreachable(drv, err, s.timeout)
	}
	if writable && drv.NoDirSync != nil {
		if err := s.startWALName(pctx, drv.NoDirSync); err != nil {
			s.db.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close waits for background work (checkpoints, the WAL's directory sync)
// and closes the database handle.
func (s *Store) Close() error {
	s.waitCheckpoints()
	s.closeWALName()
	return s.db.Close()
}

// Dialect returns the database's name: "sqlite", "mysql" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// Location returns where the store is; use its Redacted field for display.
func (s *Store) Location() Location { return s.loc }

// clock returns the current time in the precision the database stores.
func (s *Store) clock() time.Time { return dbTime(s.now()) }

// maxTxAttempts bounds retries of transactions the database aborted to break
// a deadlock (InnoDB, PostgreSQL) or because the write lock stayed busy
// (SQLite).
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
	if err := s.ensureWALName(ctx); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return translate(err)
	}
	s.afterCommit()
	return nil
}
