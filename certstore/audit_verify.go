package certstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditReport says what CheckAudit verified.
type AuditReport struct {
	Entries      int  // entries whose hash chain verified
	Sealed       int  // of those, entries whose seal verified
	Legacy       int  // entries written before the audit key existed (unsealed)
	Anchored     bool // the anchor file outside the database was checked
	SealChecked  bool // an audit public key was available to check seals
	Certificates int  // certificate rows reconciled with the log
}

const (
	selectAuditSealed = "SELECT " + auditColumns + ", seal FROM audit_log ORDER BY id"
	selectReconcile   = "SELECT id, " + recordColumns + " FROM certificates ORDER BY id"
)

// VerifyAudit runs CheckAudit and returns how many entries it checked.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	r, err := s.CheckAudit(ctx)
	return r.Entries, err
}

// CheckAudit verifies the audit log and the certificates table against it,
// in one read-only snapshot. It checks, and names the first failure of, in
// this order:
//
//   - every row is well formed (hashes are 64 hex digits, details are JSON);
//   - the rows form one hash chain from genesis to the head, with no gap
//     and no row past the head;
//   - with an audit seal: every entry from the first sealed one on carries a
//     valid signature by the audit key, and the anchor file names an entry
//     that is still in the log with the same hash (so a cut-off tail, even
//     with the head moved back, is seen);
//   - every certificate row matches what the log recorded about it: issued
//     (type, CN, fingerprint of its DER, not-after), and revoked or not
//     (time and reason); and every certificate the log issued has a row.
//
// Failures are *AuditError values wrapping ErrAuditTampered.
func (s *Store) CheckAudit(ctx context.Context) (AuditReport, error) {
	// One snapshot for the head, the log and the certificates table
	// (SQLite's deferred BEGIN gives one too; it ignores the level).
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return AuditReport{}, fmt.Errorf("read audit log: %w", err)
	}
	defer tx.Rollback()
	var head auditAnchor
	if err := tx.QueryRowContext(ctx, selectAuditHead).Scan(&head.ID, &head.Hash); err != nil {
		return AuditReport{}, fmt.Errorf("read audit head: %w", err)
	}
	c := &chainCheck{seal: s.seal, head: head, prev: genesisHash, certs: map[string]*loggedCert{}}
	if c.seal != nil {
		if c.anchor, c.hasAnchor, err = c.seal.readAnchor(); err != nil {
			return AuditReport{}, err
		}
	}
	if err := c.walk(ctx, tx); err != nil {
		return c.report, err
	}
	if err := c.finish(); err != nil {
		return c.report, err
	}
	err = c.reconcile(ctx, tx)
	return c.report, err
}

// chainCheck is the state of one CheckAudit pass.
type chainCheck struct {
	seal      *AuditSeal
	head      auditAnchor
	anchor    auditAnchor
	hasAnchor bool
	prev      string
	sealing   bool // a sealed entry has been seen
	report    AuditReport
	certs     map[string]*loggedCert // by issuer/serial
}

// loggedCert is what the log says about one certificate.
type loggedCert struct {
	issueID   int64
	issue     issueSummary
	revokeID  int64
	reason    string
	revokedAt string
	seen      bool // a certificate row matched it
}

func (c *chainCheck) walk(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, selectAuditSealed)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		var seal sql.NullString
		if err := rows.Scan(&e.ID, &scanTime{t: &e.At}, &e.Actor, &e.Action, &e.IssuerKeyID,
			&e.Serial, &e.Details, &e.PrevHash, &e.Hash, &seal); err != nil {
			return &AuditError{ID: int64(c.report.Entries + 1), Problem: fmt.Sprintf("malformed row: %v", err)}
		}
		if err := c.entry(e, seal); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	return nil
}

// entry checks one row in chain order.
func (c *chainCheck) entry(e AuditEntry, seal sql.NullString) error {
	want := int64(c.report.Entries + 1)
	bad := func(id int64, format string, args ...any) error {
		return &AuditError{ID: id, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case e.ID != want:
		return bad(want, "missing (next entry is %d)", e.ID)
	case e.ID > c.head.ID:
		return bad(e.ID, "lies past the audit head (head records %d): appended behind the store's back, or the head was moved back", c.head.ID)
	case !isHash(e.Hash) || !isHash(e.PrevHash):
		return bad(e.ID, "malformed: hash and prev_hash must be 64 lower-case hex digits")
	case e.PrevHash != c.prev:
		return bad(e.ID, "does not link to the entry before it")
	case auditHash(e) != e.Hash:
		return bad(e.ID, "contents do not match its hash")
	}
	if err := c.checkSeal(e, seal); err != nil {
		return err
	}
	if c.hasAnchor && e.ID == c.anchor.ID && e.Hash != c.anchor.Hash {
		return bad(e.ID, "hash differs from the one the anchor outside the database recorded: the log was rewritten from here on")
	}
	if err := c.collect(e); err != nil {
		return err
	}
	c.report.Entries++
	c.prev = e.Hash
	return nil
}

func (c *chainCheck) checkSeal(e AuditEntry, seal sql.NullString) error {
	if c.seal == nil {
		return nil
	}
	c.report.SealChecked = true
	switch {
	case seal.Valid && c.seal.verify(e.Hash, seal.String):
		c.sealing = true
		c.report.Sealed++
	case seal.Valid:
		return &AuditError{ID: e.ID, Problem: "seal does not verify with the audit key: the entry was rewritten"}
	case c.sealing || e.ID >= max(c.seal.SealedFrom, 1):
		return &AuditError{ID: e.ID, Problem: "is not sealed, though it is newer than the audit key: written without the key, or its seal was stripped"}
	default:
		c.report.Legacy++
	}
	return nil
}

// collect remembers what an entry says about a certificate.
func (c *chainCheck) collect(e AuditEntry) error {
	if e.Action != ActionIssue && e.Action != ActionRevoke {
		return nil
	}
	key := e.IssuerKeyID + "/" + e.Serial
	lc := c.certs[key]
	if lc == nil {
		lc = &loggedCert{}
		c.certs[key] = lc
	}
	switch e.Action {
	case ActionIssue:
		if err := json.Unmarshal([]byte(e.Details), &lc.issue); err != nil {
			return &AuditError{ID: e.ID, Problem: "malformed: details are not a JSON object"}
		}
		lc.issueID = e.ID
		if lc.issue.RevokedAt != "" {
			lc.revokeID, lc.reason, lc.revokedAt = e.ID, lc.issue.Reason, lc.issue.RevokedAt
		}
	case ActionRevoke:
		var d struct {
			Reason    string `json:"reason"`
			RevokedAt string `json:"revoked_at"`
		}
		if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
			return &AuditError{ID: e.ID, Problem: "malformed: details are not a JSON object"}
		}
		lc.revokeID, lc.reason, lc.revokedAt = e.ID, d.Reason, d.RevokedAt
	}
	return nil
}

// finish checks the end of the chain against the head and the anchor.
func (c *chainCheck) finish() error {
	n := int64(c.report.Entries)
	if n != c.head.ID {
		return &AuditError{ID: n + 1, Problem: fmt.Sprintf("missing (log ends at %d, head records %d)", n, c.head.ID)}
	}
	if c.prev != c.head.Hash {
		return &AuditError{ID: c.head.ID, Problem: "hash differs from the one recorded in the audit head"}
	}
	if c.hasAnchor {
		if c.anchor.ID > n {
			return &AuditError{ID: n + 1, Problem: fmt.Sprintf("missing: the anchor outside the database records entry %d, the log ends at %d (its tail was cut off)", c.anchor.ID, n)}
		}
		c.report.Anchored = true
	}
	return nil
}

// reconcile compares every certificate row with the log.
func (c *chainCheck) reconcile(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, selectReconcile)
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		rec, id, err := scanRecord(rows)
		if err != nil {
			return &AuditError{ID: 0, Problem: fmt.Sprintf("certificate row after %d: %v", c.report.Certificates, err)}
		}
		if problem := c.certProblem(rec); problem != "" {
			return &AuditError{ID: c.entryOf(rec), Problem: fmt.Sprintf("certificate row %d (%s/%s): %s", id, rec.IssuerKeyID, rec.Serial, problem)}
		}
		c.report.Certificates++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	for key, lc := range c.certs {
		if !lc.seen && lc.issueID != 0 {
			return &AuditError{ID: lc.issueID, Problem: fmt.Sprintf("certificate %s was issued but its row is missing from the certificates table", key)}
		}
	}
	return nil
}

func (c *chainCheck) entryOf(rec Record) int64 {
	if lc := c.certs[rec.IssuerKeyID+"/"+rec.Serial]; lc != nil {
		return lc.issueID
	}
	return 0
}

// certProblem returns how rec disagrees with the log, or "".
func (c *chainCheck) certProblem(rec Record) string {
	lc := c.certs[rec.IssuerKeyID+"/"+rec.Serial]
	if lc == nil || lc.issueID == 0 {
		return "no audit entry issued it"
	}
	lc.seen = true
	sum := sha256.Sum256(rec.DER)
	switch {
	case rec.Fingerprint != hex.EncodeToString(sum[:]):
		return "fingerprint is not the SHA-256 of its DER"
	case rec.Fingerprint != lc.issue.Fingerprint:
		return fmt.Sprintf("fingerprint differs from audit entry %d", lc.issueID)
	case rec.Type != lc.issue.Type || rec.CN != lc.issue.CN || rec.NotAfter.Format(time.RFC3339) != lc.issue.NotAfter:
		return fmt.Sprintf("type, CN or not-after differs from audit entry %d", lc.issueID)
	case rec.Status == StatusRevoked && lc.revokeID == 0:
		return "revoked, but no audit entry revoked it"
	case rec.Status != StatusRevoked && lc.revokeID != 0:
		return fmt.Sprintf("status %q, but audit entry %d revoked it", rec.Status, lc.revokeID)
	case rec.Status == StatusRevoked && (rec.RevokedAt.Format(time.RFC3339Nano) != lc.revokedAt || ReasonName(derefInt(rec.Reason)) != lc.reason):
		return fmt.Sprintf("revocation time or reason differs from audit entry %d", lc.revokeID)
	}
	return ""
}
