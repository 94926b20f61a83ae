package certstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Audit action for a new enrollment token. Certificates issued through the
// online CA get the usual "issue" entry, whose details name the token or
// the previous serial that authorised them; a superseded certificate gets a
// "revoke" entry (reason superseded), which the live revocation feed sees.
const ActionToken = "token"

// Errors the online CA branches on. ErrTokenInvalid deliberately covers
// every way a token can be wrong (unknown, wrong secret, used, expired,
// other CN or profile), so the API can answer all of them alike.
var (
	ErrTokenInvalid  = errors.New("enrollment token is unknown, used, expired or for another identity")
	ErrNotRenewable  = errors.New("certificate cannot be renewed")
	ErrTokenConflict = errors.New("enrollment token id already exists")
)

// Token is a one-time enrollment token as stored. The secret itself is
// never stored: Hash is the lower-case hex SHA-256 the caller computed.
type Token struct {
	ID         string // public half, 16 lower-case hex digits
	Hash       string
	CN         string
	Type       string   // TypeClient or TypeServer
	SANs       []string // the only SANs a certificate bought with it may carry
	CreatedAt  time.Time
	CreatedBy  string
	ExpiresAt  time.Time
	UsedAt     *time.Time
	UsedSerial string
}

// Authorization is what allowed a certificate to be issued through the
// online CA: exactly one of a token (ID and hash of the presented secret)
// or a previous certificate (issuer and serial) being renewed.
type Authorization struct {
	TokenID, TokenHash             string
	PreviousIssuer, PreviousSerial string
}

const (
	insertToken = "INSERT INTO enroll_tokens (id, hash, cn, profile, sans, created_at, created_by, expires_at)" +
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	selectToken = "SELECT hash, cn, profile, sans, created_at, created_by, expires_at, used_at, used_serial" +
		" FROM enroll_tokens WHERE id = ?"
	selectTokenForUse = "SELECT hash, cn, profile, expires_at, used_at FROM enroll_tokens WHERE id = ?"
	useToken          = "UPDATE enroll_tokens SET used_at = ?, used_serial = ? WHERE id = ? AND used_at IS NULL"
	insertEnrollment  = "INSERT INTO enrollments (issuer_key_id, serial, method, token_id, previous_serial, at)" +
		" VALUES (?, ?, ?, ?, ?, ?)"
)

// CreateToken stores a new token and appends a "token" audit entry (id,
// CN, profile, expiry; never the secret or its hash).
func (s *Store) CreateToken(ctx context.Context, t Token) error {
	if len(t.ID) != 16 || checkKeyID(t.ID) != nil || len(t.Hash) != 64 || checkKeyID(t.Hash) != nil {
		return fmt.Errorf("token id must be 16 and hash 64 lower-case hex digits")
	}
	if t.Type != TypeClient && t.Type != TypeServer {
		return fmt.Errorf("tokens are for client or server certificates, not %q", t.Type)
	}
	if t.CN == "" || len([]rune(t.CN)) > maxCNLen {
		return fmt.Errorf("token common name must be 1 to %d characters", maxCNLen)
	}
	if t.CreatedBy == "" {
		t.CreatedBy = defaultActor
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	if t.SANs == nil {
		t.SANs = []string{}
	}
	sans, err := json.Marshal(t.SANs)
	if err != nil {
		return fmt.Errorf("encode SANs: %w", err)
	}
	details, _ := json.Marshal(struct {
		TokenID   string `json:"token_id"`
		CN        string `json:"cn"`
		Type      string `json:"type"`
		ExpiresAt string `json:"expires_at"`
	}{t.ID, t.CN, t.Type, dbTime(t.ExpiresAt).Format(time.RFC3339)})
	skeleton, err := identityOf(Record{Type: t.Type, CN: t.CN, Status: StatusActive})
	if err != nil {
		return fmt.Errorf("create enrollment token for %q: %w", t.CN, err)
	}
	var written AuditEntry
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.identityFree(ctx, tx, t.CN, skeleton); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insertToken, t.ID, t.Hash, t.CN, t.Type, string(sans),
			timeArg(t.CreatedAt), t.CreatedBy, timeArg(t.ExpiresAt)); err != nil {
			if errors.Is(translate(err), ErrDuplicate) {
				return ErrTokenConflict
			}
			return err
		}
		written, err = s.appendAudit(ctx, tx, AuditEntry{Actor: t.CreatedBy, Action: ActionToken, Details: string(details)})
		return err
	})
	if err != nil {
		return fmt.Errorf("create enrollment token for %q: %w", t.CN, err)
	}
	s.advanceAnchor(ctx, written)
	return nil
}

// identityFree fails with an IdentityError when an active, unexpired
// client certificate holds skeleton: a token for that identity could only
// be refused at enrollment (the holder is revoked first, or issue/sign
// --replace takes the name over).
func (s *Store) identityFree(ctx context.Context, tx *sql.Tx, cn string, skeleton any) error {
	if skeleton == nil {
		return nil
	}
	holder, _, err := scanRecord(tx.QueryRowContext(ctx, selectBySkeleton, skeleton))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case holder.Status == StatusActive && s.clock().Before(holder.NotAfter):
		return &IdentityError{CN: cn, HolderCN: holder.CN, HolderSerial: holder.Serial}
	}
	return nil
}

// LookupToken returns a token's stored claims (CN, type, SANs, expiry,
// use), or ErrTokenInvalid for an unknown id. It does not check the secret:
// the API uses it to build the certificate and to turn away a used or
// expired token early, and InsertAuthorized checks everything again, with
// the secret, in the transaction that uses the token.
func (s *Store) LookupToken(ctx context.Context, id string) (Token, error) {
	t := Token{ID: id}
	var raw string
	usedAt := new(timeOrNil)
	var usedSerial sql.NullString
	err := s.db.QueryRowContext(ctx, selectToken, id).Scan(&t.Hash, &t.CN, &t.Type, &raw,
		&scanTime{t: &t.CreatedAt}, &t.CreatedBy, &scanTime{t: &t.ExpiresAt}, usedAt.scanner(), &usedSerial)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrTokenInvalid
	}
	if err != nil {
		return Token{}, fmt.Errorf("read enrollment token: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &t.SANs); err != nil {
		return Token{}, fmt.Errorf("read enrollment token: %w", err)
	}
	t.UsedAt, t.UsedSerial = usedAt.get(), usedSerial.String
	return t, nil
}

// InsertAuthorized records a certificate issued through the online CA, in
// one transaction with what authorised it:
//
//   - a token is checked (secret hash in constant time, unused, unexpired,
//     same CN and type) and marked used; the row lock (FOR UPDATE on MySQL,
//     BEGIN IMMEDIATE on SQLite) makes the first of any number of
//     concurrent uses the only one that commits;
//   - a renewal checks that the previous certificate is known, active,
//     unexpired and of the same CN and type, and supersedes it (revoked,
//     reason superseded), so an identity keeps exactly one active
//     certificate at every instant.
//
// Failures wrap ErrTokenInvalid or ErrNotRenewable and change nothing.
func (s *Store) InsertAuthorized(ctx context.Context, rec Record, auth Authorization) error {
	rec, err := s.prepare(rec)
	if err != nil {
		return err
	}
	renewal := auth.TokenID == ""
	if renewal == (auth.PreviousSerial == "") {
		return errors.New("authorise an issuance with exactly one of a token or a previous certificate")
	}
	skeleton, err := identityOf(rec)
	if err != nil {
		return err
	}
	var written AuditEntry
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		method, extra := "token", map[string]string{"token_id": auth.TokenID}
		if renewal {
			method, extra = "renewal", map[string]string{"previous_serial": auth.PreviousSerial}
			if err := s.supersede(ctx, tx, rec, auth, now); err != nil {
				return err
			}
		} else if err := s.useToken(ctx, tx, rec, auth, now); err != nil {
			return err
		}
		var err error
		if _, written, err = s.insertTx(ctx, tx, rec, skeleton, detailsWith(issueDetails(rec), extra), false); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, insertEnrollment, rec.IssuerKeyID, rec.Serial, method,
			nullString(auth.TokenID), nullString(auth.PreviousSerial), timeArg(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("record certificate %s/%s: %w", rec.IssuerKeyID, rec.Serial, err)
	}
	s.advanceAnchor(ctx, written)
	return nil
}

func (s *Store) useToken(ctx context.Context, tx *sql.Tx, rec Record, auth Authorization, now time.Time) error {
	var hash, cn, typ string
	var expires time.Time
	var used sql.NullString
	err := tx.QueryRowContext(ctx, selectTokenForUse+s.d.forUpdate, auth.TokenID).
		Scan(&hash, &cn, &typ, &scanTime{t: &expires}, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrTokenInvalid
	}
	if err != nil {
		return fmt.Errorf("read enrollment token: %w", err)
	}
	// The hash is compared in constant time even though it is a hash, so
	// no timing difference tells how much of a guess was right.
	good := subtle.ConstantTimeCompare([]byte(hash), []byte(auth.TokenHash)) == 1
	if !good || used.Valid || !now.Before(expires) || cn != rec.CN || typ != rec.Type {
		return ErrTokenInvalid
	}
	res, err := tx.ExecContext(ctx, useToken, timeArg(now), rec.Serial, auth.TokenID)
	if err != nil {
		return fmt.Errorf("use enrollment token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrTokenInvalid
	}
	return nil
}

func (s *Store) supersede(ctx context.Context, tx *sql.Tx, rec Record, auth Authorization, now time.Time) error {
	serial, err := NormalizeSerial(auth.PreviousSerial)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotRenewable, err)
	}
	prev, id, err := scanRecord(tx.QueryRowContext(ctx, selectByIssuerSerial+s.d.forUpdate, auth.PreviousIssuer, serial))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %w", ErrNotRenewable, ErrNotFound)
	case err != nil:
		return err
	case prev.Status != StatusActive:
		return fmt.Errorf("%w: certificate %s is %s", ErrNotRenewable, serial, prev.Status)
	case now.After(prev.NotAfter):
		return fmt.Errorf("%w: certificate %s has expired", ErrNotRenewable, serial)
	case prev.CN != rec.CN || prev.Type != rec.Type:
		return fmt.Errorf("%w: a renewal keeps the CN and type", ErrNotRenewable)
	}
	r, err := s.prepareRevocation(Revocation{
		IssuerKeyID: auth.PreviousIssuer, Serial: serial, Reason: ReasonSuperseded, Actor: rec.IssuedBy, At: now,
	})
	if err != nil {
		return err
	}
	_, _, err = s.revokeRow(ctx, tx, prev, id, r)
	return err
}

// detailsWith adds string fields to a JSON object of audit details.
func detailsWith(details string, extra map[string]string) string {
	m := map[string]any{}
	if err := json.Unmarshal([]byte(details), &m); err != nil {
		return details
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}
