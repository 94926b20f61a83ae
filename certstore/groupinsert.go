package certstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// errNeedsItems stops a batch's few-statement attempt (insertBatch) when
// the batch has to be recorded item by item.
var errNeedsItems = errors.New("the batch needs recording one certificate at a time")

// insertBatch records batch inside tx in four statements whatever its
// size: one insert of all certificate rows, then the audit entries
// (appendAudits). The result is
// what inserting the items one after the other would give. It returns
// errNeedsItems, having changed nothing the rollback does not undo, when
// an item asks to replace a holder, two items claim one identity, or a row
// is a duplicate (an identity already held counts: perhaps by an expired
// certificate, which the item by item path releases); the item by item
// path then gives each item its own answer. It returns the last audit entry written.
func (s *Store) insertBatch(ctx context.Context, tx *sql.Tx, batch []*pendingInsert) (AuditEntry, error) {
	seen := make(map[any]bool, len(batch))
	for _, it := range batch {
		if it.replace || it.skeleton != nil && seen[it.skeleton] {
			return AuditEntry{}, errNeedsItems
		}
		if it.skeleton != nil {
			seen[it.skeleton] = true
		}
	}
	// The unique index on cn_skeleton refuses a row whose identity is
	// held, active or expired, as a duplicate.
	if err := s.insertRows(ctx, tx, batch); err != nil {
		if err = translate(err); errors.Is(err, ErrDuplicate) {
			return AuditEntry{}, errNeedsItems
		}
		return AuditEntry{}, err
	}
	entries := make([]AuditEntry, len(batch))
	for i, it := range batch {
		entries[i] = AuditEntry{Actor: it.rec.IssuedBy, Action: ActionIssue,
			IssuerKeyID: it.rec.IssuerKeyID, Serial: it.rec.Serial, Details: it.details}
	}
	written, err := s.appendAudits(ctx, tx, entries)
	if err != nil {
		return AuditEntry{}, err
	}
	return written[len(written)-1], nil
}

// insertRows inserts every item's certificate row in one statement.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, batch []*pendingInsert) error {
	args := make([]any, 0, len(batch)*certificateArgs)
	for _, it := range batch {
		a, err := certificateRow(it.rec, it.skeleton)
		if err != nil {
			return err
		}
		args = append(args, a...)
	}
	_, err := tx.ExecContext(ctx, multiRow(insertCertificate, len(batch)), args...)
	return err
}

// multiRow turns an INSERT ... VALUES (?, ...) of one row into one of n
// rows, repeating its last parenthesised group.
func multiRow(stmt string, n int) string {
	group := stmt[strings.LastIndexByte(stmt, '('):]
	return stmt + strings.Repeat(", "+group, n-1)
}
