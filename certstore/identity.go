package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/securechat/scca/internal/confusables"
	"github.com/securechat/scca/inventory"
)

// A client certificate's CN is a chat identity: messages queued for "alice"
// go to whoever holds an active "alice" certificate. So the inventory lets
// one active client certificate at a time hold an identity, and treats
// look-alike names (Cyrillic "а" for Latin "a", "rn" for "m", full-width
// letters, different case) as the same identity.

// ErrIdentityTaken and IdentityError live in the driver-free inventory
// package; these aliases keep certstore callers working.
var ErrIdentityTaken = inventory.ErrIdentityTaken

// IdentityError names the certificate that holds an identity.
type IdentityError = inventory.IdentityError

// ErrIdentityName is returned for a client CN the identifier rules refuse.
var ErrIdentityName = errors.New("invalid client identity")

// maxSkeletonLen is the cn_skeleton column's size, in characters.
const maxSkeletonLen = 255

// IdentitySkeleton returns the comparison key of a client identity: the
// PRECIS Nickname comparison form (RFC 8266 §2.3: NFKC, case folded, spaces
// normalised), reduced to its Unicode UTS #39 confusable skeleton. Two CNs
// with the same skeleton look alike and name one identity.
func IdentitySkeleton(cn string) (string, error) {
	key, err := precis.Nickname.CompareKey(cn)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrIdentityName, cn, err)
	}
	skel := confusables.Skeleton(key)
	if utf8.RuneCountInString(skel) > maxSkeletonLen || strings.ContainsRune(skel, utf8.RuneError) {
		return "", fmt.Errorf("%w: %q has no usable comparison form", ErrIdentityName, cn)
	}
	return skel, nil
}

const (
	insertCertificate = "INSERT INTO certificates (" + recordColumns + ", cn_skeleton)" +
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	selectBySkeleton = "SELECT id, " + recordColumns + " FROM certificates WHERE cn_skeleton = ?"
	releaseSkeleton  = "UPDATE certificates SET cn_skeleton = NULL WHERE id = ?"
)

// identityOf returns the skeleton an active client record claims, or nil
// for every other record (which claims no identity).
func identityOf(rec Record) (any, error) {
	if rec.Type != TypeClient || rec.Status != StatusActive {
		return nil, nil
	}
	return IdentitySkeleton(rec.CN)
}

// claimIdentity makes skeleton free for rec inside tx: an expired holder
// releases it, and with replace an active holder is revoked as superseded
// (its audit entry is returned). The holder's row is locked, and the unique
// index on cn_skeleton refuses a concurrent claim that slipped past.
func (s *Store) claimIdentity(ctx context.Context, tx *sql.Tx, rec Record, skeleton any, replace bool) (*Record, AuditEntry, error) {
	if skeleton == nil {
		return nil, AuditEntry{}, nil
	}
	holder, id, err := scanRecord(tx.QueryRowContext(ctx, selectBySkeleton+s.d.forUpdate, skeleton))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, AuditEntry{}, nil
	}
	if err != nil {
		return nil, AuditEntry{}, err
	}
	if !s.clock().Before(holder.NotAfter) {
		_, err := tx.ExecContext(ctx, releaseSkeleton, id)
		return nil, AuditEntry{}, err
	}
	if !replace {
		return nil, AuditEntry{}, &IdentityError{CN: rec.CN, HolderCN: holder.CN, HolderSerial: holder.Serial}
	}
	r, err := s.prepareRevocation(Revocation{
		IssuerKeyID: holder.IssuerKeyID, Serial: holder.Serial, Reason: ReasonSuperseded, Actor: rec.IssuedBy,
	})
	if err != nil {
		return nil, AuditEntry{}, err
	}
	old, entry, err := s.revokeRow(ctx, tx, holder, id, r)
	if err != nil {
		return nil, AuditEntry{}, err
	}
	return &old, entry, nil
}

// identityConflict turns the unique index's refusal of a concurrent claim
// into an IdentityError (the holder committed after this transaction read).
func identityConflict(err error, cn string) error {
	if errors.Is(err, ErrDuplicate) && strings.Contains(err.Error(), "cn_skeleton") {
		return &IdentityError{CN: cn, HolderCN: "(a concurrent issuance)", HolderSerial: "(just committed)"}
	}
	return err
}
