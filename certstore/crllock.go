package certstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// namedLock is how a dialect takes and releases a named lock that one
// connection holds (and that the server drops if the connection dies).
type namedLock struct {
	lock   string // args: name, timeout in seconds; returns 1 when taken
	unlock string // args: name
}

// crlLocks holds the CRL publishing lock per dialect. A dialect without an
// entry needs none: an SQLite inventory lives on one host, where the file
// lock beside the CRL (package revocation) already serializes publishers,
// and SQLite's own write lock serializes the number allocation.
var crlLocks = map[string]namedLock{
	DriverMySQL: {lock: "SELECT GET_LOCK(?, ?)", unlock: "SELECT RELEASE_LOCK(?)"},
	// PostgreSQL's session advisory lock has no timeout argument: the wait
	// is bounded by the query's context (LockCRL), and the seconds are
	// only passed through so both dialects take the same arguments.
	DriverPostgres: {
		lock:   "SELECT 1 FROM (SELECT pg_advisory_lock(hashtextextended(?, 0)), CAST(? AS INTEGER)) AS l",
		unlock: "SELECT pg_advisory_unlock(hashtextextended(?, 0))",
	},
}

// DefaultCRLLockWait bounds how long LockCRL waits for another publisher
// when ctx has no deadline. Publishing a CRL of a million entries takes
// about two seconds.
const DefaultCRLLockWait = 60 * time.Second

// ErrLockTimeout: another publisher held the lock for longer than the wait.
var ErrLockTimeout = errors.New("timed out waiting for the CRL publishing lock")

// LockCRL takes the database lock that serializes publishing the CRL of one
// issuer across every process and host sharing this inventory (MySQL
// GET_LOCK, PostgreSQL pg_advisory_lock, on a connection reserved until unlock). On SQLite it takes
// nothing (see crlLocks). The lock is released by unlock, or by the server
// when the connection or the process dies.
func (s *Store) LockCRL(ctx context.Context, issuerKeyID string) (unlock func(), err error) {
	nl, ok := crlLocks[s.d.name]
	if !ok {
		return func() {}, nil
	}
	if err := checkKeyID(issuerKeyID); err != nil {
		return nil, err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("crl lock: %w", translate(err))
	}
	name := crlLockName(issuerKeyID)
	wait := DefaultCRLLockWait
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), time.Second)
	}
	var got sql.NullInt64
	// The context bounds the wait where the database's lock call has no
	// timeout of its own (PostgreSQL); MySQL's GET_LOCK times out first.
	lctx, cancel := context.WithTimeout(ctx, wait+time.Second)
	defer cancel()
	if err := conn.QueryRowContext(lctx, nl.lock, name, int(wait.Seconds())).Scan(&got); err != nil {
		conn.Close()
		if errors.Is(lctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w (%s, issuer %s)", ErrLockTimeout, wait, issuerKeyID)
		}
		return nil, fmt.Errorf("crl lock: %w", translate(err))
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, fmt.Errorf("%w (%s, issuer %s)", ErrLockTimeout, wait, issuerKeyID)
	}
	return func() {
		// A fresh context: the lock must be released even when ctx is done.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(rctx, nl.unlock, name)
		conn.Close()
	}, nil
}

// crlLockName is the lock's name: MySQL allows 64 characters, so the key id
// is hashed when the name would be longer.
func crlLockName(issuerKeyID string) string {
	name := "scca_crl_" + issuerKeyID
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(issuerKeyID))
	return "scca_crl_" + hex.EncodeToString(sum[:20])
}

// LastCRLNumber returns the issuer's last allocated CRL number, 0 when none
// was ever allocated. `scca crl status` compares it with the published CRL.
func (s *Store) LastCRLNumber(ctx context.Context, issuerKeyID string) (int64, error) {
	if err := checkKeyID(issuerKeyID); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.QueryRowContext(ctx, selectCRLNumber, issuerKeyID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read CRL number of %s: %w", issuerKeyID, translate(err))
	}
	return n, nil
}
