package certstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const (
	revokeCertificate = "UPDATE certificates SET status = 'revoked', revoked_at = ?, reason = ?, revoked_by = ?," +
		" cn_skeleton = NULL WHERE id = ? AND status = 'active'"
	// The statement listing revoked certificates and the CRL number upsert
	// differ by database: see dialect.selectRevoked and upsertCRLNumber.
	selectCRLNumber = "SELECT last_number FROM crl_numbers WHERE issuer_key_id = ?"
)

// Revoke marks a certificate revoked and appends a "revoke" audit entry, in
// one transaction that holds the certificate's row (FOR UPDATE on MySQL and
// PostgreSQL, the write lock on SQLite), so two concurrent revocations cannot both
// succeed. It fails with ErrNotFound or ErrAlreadyRevoked, changing nothing.
// It returns the record as now stored.
func (s *Store) Revoke(ctx context.Context, r Revocation) (Record, error) {
	r, err := s.prepareRevocation(r)
	if err != nil {
		return Record{}, err
	}
	var out Record
	var entry AuditEntry
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, selectByIssuerSerial+s.d.forUpdate, r.IssuerKeyID, r.Serial)
		rec, id, err := scanRecord(row)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if rec.Status == StatusRevoked {
			return fmt.Errorf("revoked at %s (%s): %w",
				rec.RevokedAt.Format(time.RFC3339), ReasonName(derefInt(rec.Reason)), ErrAlreadyRevoked)
		}
		out, entry, err = s.revokeRow(ctx, tx, rec, id, r)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("revoke %s/%s: %w", r.IssuerKeyID, r.Serial, err)
	}
	s.advanceAnchor(ctx, entry)
	return out, nil
}

// revokeRow revokes the active row id holding rec inside tx and appends its
// audit entry.
func (s *Store) revokeRow(ctx context.Context, tx *sql.Tx, rec Record, id int64, r Revocation) (Record, AuditEntry, error) {
	res, err := tx.ExecContext(ctx, revokeCertificate, timeArg(r.At), r.Reason, r.Actor, id)
	if err != nil {
		return rec, AuditEntry{}, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return rec, AuditEntry{}, fmt.Errorf("revoke row %d: %d rows changed (%v)", id, n, err)
	}
	rec.Status, rec.RevokedAt, rec.Reason, rec.RevokedBy = StatusRevoked, &r.At, &r.Reason, r.Actor
	entry, err := s.appendAudit(ctx, tx, AuditEntry{
		Actor: r.Actor, Action: ActionRevoke, IssuerKeyID: r.IssuerKeyID, Serial: r.Serial,
		Details: revokeDetails(r),
	})
	return rec, entry, err
}

func (s *Store) prepareRevocation(r Revocation) (Revocation, error) {
	serial, err := NormalizeSerial(r.Serial)
	if err != nil {
		return r, err
	}
	r.Serial = serial
	if err := checkKeyID(r.IssuerKeyID); err != nil {
		return r, err
	}
	if !validReason(r.Reason) {
		return r, fmt.Errorf("invalid revocation reason %s", ReasonName(r.Reason))
	}
	if r.Actor == "" {
		r.Actor = defaultActor
	}
	if len(r.Actor) > maxActorLen {
		return r, fmt.Errorf("actor name is longer than %d bytes", maxActorLen)
	}
	if r.At.IsZero() {
		r.At = s.now()
	}
	r.At = dbTime(r.At)
	return r, nil
}

func revokeDetails(r Revocation) string {
	b, _ := json.Marshal(struct {
		Reason    string `json:"reason"`
		RevokedAt string `json:"revoked_at"`
	}{ReasonName(r.Reason), r.At.Format(time.RFC3339Nano)})
	return string(b)
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// Revoked streams every revoked certificate of one issuer into fn, in
// revocation-record order, for building a CRL. Rows are read one at a time,
// so memory stays flat however long the list. An error from fn stops it.
//
// It runs once per CRL over up to millions of rows, so the loop avoids
// per-row work: one Scan destination list for all rows, the reason read
// without reflection, and on SQLite the time read as its fixed-width text
// (the driver would otherwise try time.Parse with several layouts) and
// parsed by hand.
func (s *Store) Revoked(ctx context.Context, issuerKeyID string, fn func(RevokedEntry) error) error {
	rows, err := s.db.QueryContext(ctx, s.d.selectRevoked, issuerKeyID)
	if err != nil {
		return fmt.Errorf("list revoked certificates: %w", err)
	}
	defer rows.Close()
	var (
		e      RevokedEntry
		reason nullReason
		dest   = []any{&e.Serial, &revokedTime{t: &e.RevokedAt}, &reason}
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("list revoked certificates: %w", err)
		}
		e.Reason = reason.code
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list revoked certificates: %w", err)
	}
	return nil
}

// revokedTime scans revoked_at, parsing this package's own fixed-width
// layout by hand and anything else through scanTime.
type revokedTime struct{ t *time.Time }

func (r *revokedTime) Scan(src any) error {
	var ok bool
	switch v := src.(type) {
	case string:
		*r.t, ok = parseTimeLayout(v)
	case []byte:
		*r.t, ok = parseTimeLayout(v)
	}
	if ok {
		return nil
	}
	return (&scanTime{t: r.t}).Scan(src)
}

// parseTimeLayout parses exactly timeLayout ("2006-01-02 15:04:05.000000",
// UTC), reporting false for anything else, including impossible dates.
func parseTimeLayout[T string | []byte](v T) (time.Time, bool) {
	if len(v) != len(timeLayout) {
		return time.Time{}, false
	}
	for i := range len(timeLayout) {
		if c := timeLayout[i]; c < '0' || c > '9' {
			if v[i] != c {
				return time.Time{}, false
			}
		} else if v[i] < '0' || v[i] > '9' {
			return time.Time{}, false
		}
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			n = n*10 + int(v[i]-'0')
		}
		return n
	}
	year, month, day := num(0, 4), time.Month(num(5, 7)), num(8, 10)
	hour, minute, sec, usec := num(11, 13), num(14, 16), num(17, 19), num(20, 26)
	if hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, sec, usec*1000, time.UTC)
	if t.Month() != month || t.Day() != day { // time.Date normalises Feb 30 and month 13
		return time.Time{}, false
	}
	return t, true
}

// nullReason scans the nullable reason column; NULL reads as 0.
type nullReason struct{ code int }

func (n *nullReason) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.code = 0
	case int64:
		n.code = int(v)
	default:
		var r sql.NullInt64
		if err := r.Scan(src); err != nil {
			return err
		}
		n.code = int(r.Int64)
	}
	return nil
}

// NextCRLNumber allocates the issuer's next CRL number (RFC 5280 §5.2.3),
// starting at 1. The increment and the read happen in one transaction on a
// locked row, so numbers are strictly increasing and never handed out twice,
// even to concurrent processes. An inventory that lost audit entries the
// anchor records gets no number (see CheckAnchor): the CRL built next would
// leave out the revocations it lost.
func (s *Store) NextCRLNumber(ctx context.Context, issuerKeyID string) (int64, error) {
	if err := checkKeyID(issuerKeyID); err != nil {
		return 0, err
	}
	anchor, anchored, err := s.anchor() // before the transaction's snapshot
	if err != nil {
		return 0, fmt.Errorf("allocate CRL number for %s: %w", issuerKeyID, err)
	}
	var n int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if anchored {
			if err := s.checkAnchorTx(ctx, tx, anchor); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.upsertCRLNumber, issuerKeyID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, selectCRLNumber, issuerKeyID).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("allocate CRL number for %s: %w", issuerKeyID, err)
	}
	return n, nil
}
