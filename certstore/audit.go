package certstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Audit actions written by the store.
const (
	ActionIssue  = "issue"
	ActionRevoke = "revoke"
)

// ErrAuditTampered is wrapped (by *AuditError) when the audit log's hash
// chain does not verify.
var ErrAuditTampered = errors.New("audit log has been tampered with")

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID          int64
	At          time.Time
	Actor       string
	Action      string
	IssuerKeyID string
	Serial      string
	Details     string // JSON object
	PrevHash    string // Hash of the entry before, or genesisHash
	Hash        string
}

// AuditError names the first audit entry that fails verification.
type AuditError struct {
	ID      int64
	Problem string
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("audit entry %d: %s", e.ID, e.Problem)
}

// Unwrap makes errors.Is(err, ErrAuditTampered) true.
func (e *AuditError) Unwrap() error { return ErrAuditTampered }

// genesisHash is the PrevHash of the first entry.
var genesisHash = strings.Repeat("0", 64)

const (
	auditColumns    = "id, at, actor, action, issuer_key_id, serial, details, prev_hash, hash"
	selectAuditHead = "SELECT last_id, last_hash FROM audit_head WHERE id = 1"
	updateAuditHead = "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = 1"
	insertAudit     = "INSERT INTO audit_log (" + auditColumns + ", seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	auditArgs       = 10 // arguments of insertAudit
	selectAudit     = "SELECT " + auditColumns + " FROM audit_log ORDER BY id"
)

// auditHashDomain separates this hash from any other SHA-256 use, and
// versions the encoding.
const auditHashDomain = "scca audit v1"

// auditHash is hex(SHA-256(prev_hash || encoding)), where prev_hash is the
// 64 hex characters of the previous hash and the encoding is, for each of
// domain, id (decimal), at (RFC 3339 nano, UTC), actor, action, issuer key
// ID, serial and details: a 4-byte big-endian length, then the bytes. The
// length prefixes make the encoding unambiguous; the id ties each entry to
// its position, so entries cannot be reordered.
func auditHash(e AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	for _, f := range []string{
		auditHashDomain, strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano),
		e.Actor, e.Action, e.IssuerKeyID, e.Serial, e.Details,
	} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendAudit adds e to the chain inside tx and returns it as written; see
// appendAudits.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) (AuditEntry, error) {
	written, err := s.appendAudits(ctx, tx, []AuditEntry{e})
	if err != nil {
		return e, err
	}
	return written[0], nil
}

// appendAudits adds entries, in order, to the chain inside tx and returns
// them as written, in three statements however many there are. When the
// store has an audit seal, each entry is signed with the audit key; the
// caller moves the anchor forward (advanceAnchor) once the transaction has
// committed. Locking the single audit_head row (FOR UPDATE on MySQL and
// PostgreSQL; SQLite's BEGIN IMMEDIATE already excludes other writers)
// makes concurrent appenders, in any process, take turns, and the head is
// read after the lock is granted, so it is never stale; the lock is held
// until the commit. Before appending, the head is checked against the audit
// anchor (checkAnchorLocked): nothing is appended to a log that lost
// entries the anchor records, nor when the anchor cannot be read.
func (s *Store) appendAudits(ctx context.Context, tx *sql.Tx, entries []AuditEntry) ([]AuditEntry, error) {
	if err := s.seal.Ready(); err != nil {
		return nil, fmt.Errorf("append audit entry: %w", err)
	}
	if s.seal != nil && s.seal.Key == nil {
		return nil, fmt.Errorf("append audit entry: %w", ErrAuditKeyNotLoaded)
	}
	var lastID int64
	var lastHash string
	if err := tx.QueryRowContext(ctx, selectAuditHead+s.d.forUpdate).Scan(&lastID, &lastHash); err != nil {
		return nil, fmt.Errorf("lock audit log: %w", err)
	}
	if err := s.checkAnchorLocked(ctx, tx, auditAnchor{ID: lastID, Hash: lastHash}); err != nil {
		return nil, err
	}
	out := make([]AuditEntry, len(entries))
	args := make([]any, 0, len(entries)*auditArgs)
	for i, e := range entries {
		e.ID, e.PrevHash, e.At = lastID+1, lastHash, s.clock()
		e.Hash = auditHash(e)
		var seal any // NULL: no audit key configured
		if s.seal != nil {
			var err error
			if seal, err = s.seal.sign(e.Hash); err != nil {
				return nil, err
			}
		}
		args = append(args, e.ID, timeArg(e.At), e.Actor, e.Action,
			e.IssuerKeyID, e.Serial, e.Details, e.PrevHash, e.Hash, seal)
		out[i], lastID, lastHash = e, e.ID, e.Hash
	}
	if _, err := tx.ExecContext(ctx, multiRow(insertAudit, len(entries)), args...); err != nil {
		return nil, fmt.Errorf("append audit entry: %w", err)
	}
	if _, err := tx.ExecContext(ctx, updateAuditHead, lastID, lastHash); err != nil {
		return nil, fmt.Errorf("append audit entry: %w", err)
	}
	return out, nil
}

// advanceAnchor records a committed entry in the anchor file outside the
// database. A failure here is not returned: the change it follows is
// committed and must not be reported as failed (a caller would retry, or
// discard the files of a certificate that is recorded), and an anchor that
// lags behind only narrows what it protects, never raises a false alarm.
// It is not silent either: Options.AnchorFailed hears of it, so the
// operator learns that the anchor is not durable as the command reports
// success. ctx may carry atomicfile.DirSyncs: then its owner fsyncs the
// anchor's directory (an issuance does, together with the files it links
// there).
func (s *Store) advanceAnchor(ctx context.Context, e AuditEntry) {
	if s.seal != nil && e.ID > 0 {
		s.anchorFailed(e.ID, s.seal.advanceAnchor(ctx, e.ID, e.Hash))
	}
}

// AuditHead returns the id of the newest audit entry (0 for an empty log).
func (s *Store) AuditHead(ctx context.Context) (int64, error) {
	var id int64
	var hash string
	if err := s.db.QueryRowContext(ctx, selectAuditHead).Scan(&id, &hash); err != nil {
		return 0, fmt.Errorf("read audit head: %w", err)
	}
	return id, nil
}

// Audit streams the audit log, oldest first, into fn. An error from fn
// stops it and is returned as is.
func (s *Store) Audit(ctx context.Context, fn func(AuditEntry) error) error {
	return s.queryAudit(ctx, fn, selectAudit)
}

func (s *Store) queryAudit(ctx context.Context, fn func(AuditEntry) error, q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &scanTime{t: &e.At}, &e.Actor, &e.Action, &e.IssuerKeyID,
			&e.Serial, &e.Details, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	return nil
}
