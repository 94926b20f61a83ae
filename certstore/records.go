package certstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/securechat/scca/inventory"
)

// recordColumns is the column list every record query selects, in the order
// scanRecord reads them.
const recordColumns = "issuer_key_id, serial, type, cn, sans, not_before, not_after, status," +
	" revoked_at, reason, revoked_by, fingerprint, der, issued_at, issued_by"

const (
	selectByIssuerSerial = "SELECT id, " + recordColumns + " FROM certificates WHERE issuer_key_id = ? AND serial = ?"
	selectBySerial       = "SELECT id, " + recordColumns + " FROM certificates WHERE serial = ? ORDER BY id DESC"
	selectByCN           = "SELECT id, " + recordColumns + " FROM certificates WHERE cn = ? ORDER BY id DESC"
)

// Column limits from the schema, checked before writing so both databases
// refuse the same records (SQLite would otherwise store anything).
const (
	maxKeyIDLen = 64
	maxCNLen    = 64
	maxActorLen = 255
)

// defaultActor records who acted when the caller does not say.
const defaultActor = "scca"

// Insert records a newly issued certificate and appends an "issue" entry to
// the audit log in the same transaction. A second certificate with the same
// issuer and serial, or the same DER, fails with ErrDuplicate and writes
// nothing. An active client certificate whose CN (or a look-alike of it, see
// IdentitySkeleton) another unexpired active client certificate holds fails
// with an *IdentityError (ErrIdentityTaken). Zero IssuedAt means now; empty
// Fingerprint is computed from DER; empty Status means StatusActive; empty
// IssuedBy means "scca".
func (s *Store) Insert(ctx context.Context, rec Record) error {
	_, err := s.insert(ctx, rec, false)
	return err
}

// Supersede records rec like Insert, but when an active client certificate
// holds rec's identity it is revoked (reason superseded) in the same
// transaction, and returned; nil means there was none.
func (s *Store) Supersede(ctx context.Context, rec Record) (*Record, error) {
	return s.insert(ctx, rec, true)
}

func (s *Store) insert(ctx context.Context, rec Record, replace bool) (*Record, error) {
	rec, err := s.prepare(rec)
	if err != nil {
		return nil, err
	}
	skeleton, err := identityOf(rec)
	if err != nil {
		return nil, err
	}
	var replaced *Record
	var written AuditEntry
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		replaced, written, err = s.insertTx(ctx, tx, rec, skeleton, issueDetails(rec), replace)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record certificate %s/%s: %w", rec.IssuerKeyID, rec.Serial, err)
	}
	s.advanceAnchor(ctx, written)
	return replaced, nil
}

// insertTx claims rec's identity (see claimIdentity), inserts the prepared
// record and appends its "issue" audit entry with details, inside tx. It
// returns the superseded holder, if any, and the last audit entry written.
func (s *Store) insertTx(ctx context.Context, tx *sql.Tx, rec Record, skeleton any, details string, replace bool) (*Record, AuditEntry, error) {
	sans, err := json.Marshal(rec.SANs)
	if err != nil {
		return nil, AuditEntry{}, fmt.Errorf("encode SANs: %w", err)
	}
	replaced, _, err := s.claimIdentity(ctx, tx, rec, skeleton, replace)
	if err != nil {
		return nil, AuditEntry{}, err
	}
	_, err = tx.ExecContext(ctx, insertCertificate,
		rec.IssuerKeyID, rec.Serial, rec.Type, rec.CN, string(sans),
		timeArg(rec.NotBefore), timeArg(rec.NotAfter), rec.Status,
		nullTimeArg(rec.RevokedAt), nullInt(rec.Reason), nullString(rec.RevokedBy),
		rec.Fingerprint, rec.DER, timeArg(rec.IssuedAt), rec.IssuedBy, skeleton)
	if err != nil {
		return nil, AuditEntry{}, identityConflict(translate(err), rec.CN)
	}
	written, err := s.appendAudit(ctx, tx, AuditEntry{
		Actor: rec.IssuedBy, Action: ActionIssue, IssuerKeyID: rec.IssuerKeyID, Serial: rec.Serial, Details: details,
	})
	return replaced, written, err
}

// prepare validates rec and fills in defaults, in database precision.
func (s *Store) prepare(rec Record) (Record, error) {
	serial, err := NormalizeSerial(rec.Serial)
	if err != nil {
		return rec, err
	}
	rec.Serial = serial
	if err := checkKeyID(rec.IssuerKeyID); err != nil {
		return rec, err
	}
	if !inventory.ValidType(rec.Type) {
		return rec, fmt.Errorf("unknown certificate type %q", rec.Type)
	}
	if utf8.RuneCountInString(rec.CN) > maxCNLen {
		return rec, fmt.Errorf("common name %q is longer than %d characters", rec.CN, maxCNLen)
	}
	if len(rec.DER) == 0 {
		return rec, errors.New("certificate DER is empty")
	}
	sum := sha256.Sum256(rec.DER)
	if fp := hex.EncodeToString(sum[:]); rec.Fingerprint == "" {
		rec.Fingerprint = fp
	} else if rec.Fingerprint != fp {
		return rec, errors.New("fingerprint is not the SHA-256 of the DER")
	}
	if rec.NotBefore.IsZero() || rec.NotAfter.IsZero() {
		return rec, errors.New("certificate validity period is not set")
	}
	rec.NotBefore, rec.NotAfter = dbTime(rec.NotBefore), dbTime(rec.NotAfter)
	if rec.IssuedAt.IsZero() {
		rec.IssuedAt = s.now()
	}
	rec.IssuedAt = dbTime(rec.IssuedAt)
	if rec.IssuedBy == "" {
		rec.IssuedBy = defaultActor
	}
	if len(rec.IssuedBy) > maxActorLen || len(rec.RevokedBy) > maxActorLen {
		return rec, fmt.Errorf("actor name is longer than %d bytes", maxActorLen)
	}
	return prepareStatus(rec)
}

// prepareStatus checks the revocation fields agree with the status.
func prepareStatus(rec Record) (Record, error) {
	switch rec.Status {
	case "", StatusActive:
		rec.Status = StatusActive
		if rec.RevokedAt != nil || rec.Reason != nil || rec.RevokedBy != "" {
			return rec, errors.New("an active certificate cannot carry revocation details")
		}
	case StatusRevoked:
		if rec.RevokedAt == nil || rec.Reason == nil {
			return rec, errors.New("a revoked certificate needs RevokedAt and Reason")
		}
		if !validReason(*rec.Reason) {
			return rec, fmt.Errorf("invalid revocation reason %d", *rec.Reason)
		}
		at := dbTime(*rec.RevokedAt)
		rec.RevokedAt = &at
	default:
		return rec, fmt.Errorf("cannot record status %q (want %q or %q)", rec.Status, StatusActive, StatusRevoked)
	}
	return rec, nil
}

func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("issuer key ID %q must be 1 to %d lower-case hex digits", id, maxKeyIDLen)
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("issuer key ID %q must be lower-case hex", id)
		}
	}
	return nil
}

// Get returns the certificate issuer issued with serial (in any notation
// NormalizeSerial accepts), or ErrNotFound.
func (s *Store) Get(ctx context.Context, issuerKeyID, serial string) (Record, error) {
	norm, err := NormalizeSerial(serial)
	if err != nil {
		return Record{}, err
	}
	var rec Record
	err = s.queryRecords(ctx, func(r Record) error { rec = r; return nil }, selectByIssuerSerial, issuerKeyID, norm)
	if err != nil {
		return Record{}, err
	}
	if rec.Serial == "" {
		return Record{}, fmt.Errorf("%s/%s: %w", issuerKeyID, norm, ErrNotFound)
	}
	return rec, nil
}

// FindBySerial returns every certificate with serial, from any issuer,
// newest first. No match is an empty slice, not an error.
func (s *Store) FindBySerial(ctx context.Context, serial string) ([]Record, error) {
	norm, err := NormalizeSerial(serial)
	if err != nil {
		return nil, err
	}
	return s.collect(ctx, selectBySerial, norm)
}

// FindByCN returns every certificate whose common name is exactly cn, newest
// first. No match is an empty slice, not an error.
func (s *Store) FindByCN(ctx context.Context, cn string) ([]Record, error) {
	return s.collect(ctx, selectByCN, cn)
}

func (s *Store) collect(ctx context.Context, q string, args ...any) ([]Record, error) {
	var out []Record
	err := s.queryRecords(ctx, func(r Record) error { out = append(out, r); return nil }, q, args...)
	return out, err
}

// queryRecords runs q and streams its rows, one Record at a time, into fn.
// An error from fn stops the query and is returned as is.
func (s *Store) queryRecords(ctx context.Context, fn func(Record) error, q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("query inventory: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		rec, _, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query inventory: %w", err)
	}
	return nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanRecord reads "id, " + recordColumns.
func scanRecord(row rowScanner) (Record, int64, error) {
	var (
		r         Record
		id        int64
		sans      string
		revokedAt = new(timeOrNil)
		reason    sql.NullInt64
		revokedBy sql.NullString
	)
	err := row.Scan(&id, &r.IssuerKeyID, &r.Serial, &r.Type, &r.CN, &sans,
		&scanTime{t: &r.NotBefore}, &scanTime{t: &r.NotAfter}, &r.Status,
		revokedAt.scanner(), &reason, &revokedBy, &r.Fingerprint, &r.DER,
		&scanTime{t: &r.IssuedAt}, &r.IssuedBy)
	if err != nil {
		return Record{}, 0, fmt.Errorf("read inventory row: %w", err)
	}
	if err := json.Unmarshal([]byte(sans), &r.SANs); err != nil {
		return Record{}, 0, fmt.Errorf("read inventory row %d: SANs: %w", id, err)
	}
	if len(r.SANs) == 0 {
		r.SANs = nil
	}
	r.RevokedAt = revokedAt.get()
	if reason.Valid {
		code := int(reason.Int64)
		r.Reason = &code
	}
	r.RevokedBy = revokedBy.String
	return r, id, nil
}

// timeOrNil scans a nullable time column into a *time.Time.
type timeOrNil struct {
	t  time.Time
	st scanTime
}

func (n *timeOrNil) scanner() *scanTime { n.st.t = &n.t; return &n.st }

func (n *timeOrNil) get() *time.Time {
	if !n.st.valid {
		return nil
	}
	return &n.t
}

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// issueDetails is the audit log's summary of an issued certificate. A
// certificate recorded already revoked (an import) carries its revocation,
// so the log alone accounts for every row's status.
func issueDetails(rec Record) string {
	d := issueSummary{Type: rec.Type, CN: rec.CN, Fingerprint: rec.Fingerprint, NotAfter: rec.NotAfter.Format(time.RFC3339)}
	if rec.Status == StatusRevoked {
		d.Reason, d.RevokedAt = ReasonName(derefInt(rec.Reason)), rec.RevokedAt.Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// issueSummary is the details of an "issue" audit entry.
type issueSummary struct {
	Type        string `json:"type"`
	CN          string `json:"cn"`
	Fingerprint string `json:"fingerprint"`
	NotAfter    string `json:"not_after"`
	Reason      string `json:"reason,omitempty"`
	RevokedAt   string `json:"revoked_at,omitempty"`
}
