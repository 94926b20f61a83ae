package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The audit anchor (AuditAnchorFile) records, outside the database, the
// newest audit entry committed through this CA directory. Its job is to
// notice an inventory that lost entries it once held: cut off at the tail,
// emptied, deleted and re-created by a migration, restored from an older
// copy, or replaced by another database. CheckAudit reports such a loss
// after the fact; the checks here refuse to write on top of it, because
// each write would bury the loss further (new entries reuse the lost ids,
// and once the log is long enough the anchor would move forward over the
// evidence). Every write that appends to the audit log checks the anchor in
// its transaction, NextCRLNumber too (a CRL built from an inventory that
// lost revocations un-revokes them), and Migrate checks it before creating
// any table, so every writer (CLI, online CA, server) gets the check.
//
// No anchor at all is a new CA, or one from before anchors: nothing to
// check. An anchor that cannot be read, or does not parse, is refused
// rather than taken for absent: it is exactly what a rollback would look
// like from here, and the next write could not move it forward anyway.

var (
	// ErrAnchorMismatch is wrapped (by *AnchorError) when the inventory's
	// audit log does not hold the entry the audit anchor records.
	ErrAnchorMismatch = errors.New("the inventory's audit log does not hold the entry the audit anchor records")
	// ErrAnchorMalformed is returned for an anchor file that is not an
	// anchor: a write refuses, since it cannot tell what the log must hold.
	ErrAnchorMalformed = errors.New("audit anchor is malformed")
	// ErrAnchorUnreadable is returned, with the cause, for an anchor file
	// that exists but cannot be read.
	ErrAnchorUnreadable = errors.New("cannot read the audit anchor")
	// ErrAnchorNotAdvanced is what Options.AnchorFailed is told when a
	// committed change could not move the anchor forward.
	ErrAnchorNotAdvanced = errors.New("audit anchor not moved forward")
)

// AnchorError reports an inventory whose audit log does not hold the entry
// the audit anchor records.
type AnchorError struct {
	Anchor    string // the anchor file
	ID        int64  // the entry it records
	Inventory string // the inventory, redacted for display
	LogHead   int64  // the log's newest entry; 0 when it holds none
	Rewritten bool   // the log holds entry ID, with another hash
}

func (e *AnchorError) Error() string {
	switch {
	case e.Rewritten:
		return fmt.Sprintf("audit entry %d of inventory %s is not the one audit anchor %s records: the inventory was replaced or its log rewritten",
			e.ID, e.Inventory, e.Anchor)
	case e.LogHead == 0:
		return fmt.Sprintf("audit anchor %s records entry %d, but inventory %s holds no audit entry: it was emptied, lost or replaced",
			e.Anchor, e.ID, e.Inventory)
	default:
		return fmt.Sprintf("audit anchor %s records entry %d, but the audit log of inventory %s ends at %d: it was rolled back or replaced",
			e.Anchor, e.ID, e.Inventory, e.LogHead)
	}
}

// Unwrap makes errors.Is(err, ErrAnchorMismatch) true.
func (e *AnchorError) Unwrap() error { return ErrAnchorMismatch }

const (
	selectAuditHash = "SELECT hash FROM audit_log WHERE id = ?"
	auditHeadTable  = "audit_head"
)

// CheckEmptyInventory returns an *AnchorError when the anchor records
// entries, for the inventory named inventory (for display) that holds
// none: a missing SQLite file, or a database never migrated. Such an inventory
// beside this anchor was lost, and one started afresh would silently drop
// every certificate and revocation the anchor vouches for. It returns nil
// for a seal without an anchor (a new CA), and the anchor's own error when
// it cannot be read. A nil seal keeps no anchor.
func (s *AuditSeal) CheckEmptyInventory(inventory string) error {
	if s == nil {
		return nil
	}
	a, ok, err := s.readAnchor()
	if err != nil || !ok {
		return err
	}
	return &AnchorError{Anchor: s.AnchorPath, ID: a.ID, Inventory: inventory}
}

// CheckAnchor returns an error wrapping ErrAnchorMismatch (an *AnchorError)
// when the inventory's audit log does not hold the newest entry the audit
// anchor records, and one wrapping ErrAnchorMalformed or
// ErrAnchorUnreadable when the anchor cannot be read. A store without an
// anchor passes, and so does a log ahead of its anchor (another host's
// writes, or an anchor left behind by a failed update) as long as it holds
// the anchor's entry. A database never migrated holds no entry. Writes
// check the same in their own transaction; CheckAnchor lets a caller refuse
// before any other work.
func (s *Store) CheckAnchor(ctx context.Context) error {
	// The anchor is read before the log: it names an entry committed
	// before it was written, so the log read after it holds that entry
	// unless it lost it.
	a, ok, err := s.anchor()
	if err != nil || !ok {
		return err
	}
	var head auditAnchor
	if err := s.db.QueryRowContext(ctx, selectAuditHead).Scan(&head.ID, &head.Hash); err != nil {
		// A database never migrated has no audit_head table: it holds
		// no entry. Asked only now, so that the usual case costs one
		// query.
		var n int
		if terr := s.db.QueryRowContext(ctx, s.d.tableExists, auditHeadTable).Scan(&n); terr == nil && n == 0 {
			return s.anchorError(a, 0, false)
		}
		return fmt.Errorf("read audit head: %w", err)
	}
	return s.anchorHeld(ctx, s.db, a, head)
}

// anchor reads the store's audit anchor; ok is false when it keeps none.
func (s *Store) anchor() (a auditAnchor, ok bool, err error) {
	if s.seal == nil {
		return a, false, nil
	}
	return s.seal.readAnchor()
}

// checkAnchorLocked checks the anchor inside a transaction that holds the
// audit head row locked, head being what it read: no other writer can
// commit an entry meanwhile, so an anchor read now never names an entry
// past head unless the log lost it.
func (s *Store) checkAnchorLocked(ctx context.Context, tx *sql.Tx, head auditAnchor) error {
	a, ok, err := s.anchor()
	if err != nil || !ok {
		return err
	}
	return s.anchorHeld(ctx, tx, a, head)
}

// checkAnchorTx checks the anchor a, read before tx began, as the first
// read of tx (see CheckAnchor for why the order matters).
func (s *Store) checkAnchorTx(ctx context.Context, tx *sql.Tx, a auditAnchor) error {
	var head auditAnchor
	if err := tx.QueryRowContext(ctx, selectAuditHead).Scan(&head.ID, &head.Hash); err != nil {
		return fmt.Errorf("read audit head: %w", err)
	}
	return s.anchorHeld(ctx, tx, a, head)
}

// rowQuerier is a *sql.DB or a *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// anchorHeld returns an *AnchorError unless the log whose newest entry is
// head holds anchor a's entry with a's hash. An entry older than the head
// is looked up; one that q does not see is let through: a MySQL
// transaction's snapshot may predate it (its head row was read with a
// lock, which sees past the snapshot), and a log that truly lacks it has a
// gap that CheckAudit names. A false alarm here would stop the CA; a miss
// is still caught by CheckAudit.
func (s *Store) anchorHeld(ctx context.Context, q rowQuerier, a, head auditAnchor) error {
	switch {
	case a.ID > head.ID:
		return s.anchorError(a, head.ID, false)
	case a.ID == head.ID && a.Hash != head.Hash:
		return s.anchorError(a, head.ID, true)
	}
	// The entry itself too, not only the head row that names it (one more
	// indexed read): a head row put back over a log whose entry differs
	// must not pass. An entry this read does not see is let through, even
	// the head's own: under MySQL's REPEATABLE READ a consistent read
	// earlier in the transaction may have fixed a snapshot from before
	// another process committed it (the head row, read with its lock, sees
	// past that snapshot). A locking read would see it, but needs a
	// privilege on audit_log that the runtime user does not have.
	var hash string
	err := q.QueryRowContext(ctx, selectAuditHash, a.ID).Scan(&hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read audit entry %d: %w", a.ID, err)
	case hash != a.Hash:
		return s.anchorError(a, head.ID, true)
	}
	return nil
}

func (s *Store) anchorError(a auditAnchor, head int64, rewritten bool) error {
	return &AnchorError{Anchor: s.seal.AnchorPath, ID: a.ID, Inventory: s.loc.Redacted, LogHead: head, Rewritten: rewritten}
}

// anchorFailed tells Options.AnchorFailed that a commit's entry id could
// not be recorded in the anchor.
func (s *Store) anchorFailed(id int64, err error) {
	if err != nil && s.onAnchorFailed != nil {
		s.onAnchorFailed(fmt.Errorf("%w to audit entry %d (the change itself is recorded): %w", ErrAnchorNotAdvanced, id, err))
	}
}
