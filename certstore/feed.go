package certstore

import (
	"context"
	"fmt"
)

const (
	selectLastAuditID      = "SELECT COALESCE(MAX(id), 0) FROM audit_log"
	selectRevocationsSince = "SELECT id, issuer_key_id, serial, at FROM audit_log" +
		" WHERE action = ? AND id > ? ORDER BY id LIMIT ?"
)

// LastAuditID returns the id of the newest audit entry, 0 for an empty log.
// A watcher that starts at it sees only revocations made after the call.
func (s *Store) LastAuditID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.db.QueryRowContext(ctx, selectLastAuditID).Scan(&id); err != nil {
		return 0, fmt.Errorf("read audit log head: %w", err)
	}
	return id, nil
}

// RevocationsSince returns up to limit revocations recorded after audit
// entry afterAuditID, oldest first; poll it with the last AuditID returned
// to follow revocations made by any process sharing the database.
//
// No revocation is skipped by such polling: audit ids are assigned while
// the audit head row is locked (see appendAudit), and that lock is held
// until commit, so entries become visible in id order and an entry with an
// id at or below one already seen never appears later.
func (s *Store) RevocationsSince(ctx context.Context, afterAuditID int64, limit int) ([]RevocationEvent, error) {
	if limit < 1 {
		return nil, fmt.Errorf("revocations since audit entry %d: limit %d must be at least 1", afterAuditID, limit)
	}
	rows, err := s.db.QueryContext(ctx, selectRevocationsSince, ActionRevoke, afterAuditID, limit)
	if err != nil {
		return nil, fmt.Errorf("revocations since audit entry %d: %w", afterAuditID, err)
	}
	defer rows.Close()
	var out []RevocationEvent
	for rows.Next() {
		var e RevocationEvent
		if err := rows.Scan(&e.AuditID, &e.IssuerKeyID, &e.Serial, &scanTime{t: &e.At}); err != nil {
			return nil, fmt.Errorf("revocations since audit entry %d: %w", afterAuditID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revocations since audit entry %d: %w", afterAuditID, err)
	}
	return out, nil
}
