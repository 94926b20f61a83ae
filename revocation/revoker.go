package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/securechat/scca/inventory"
)

// RevokerStore is what revoking needs from the inventory; *certstore.Store
// implements it. Revoke must record the revocation and its audit entry in one
// transaction.
type RevokerStore interface {
	CRLStore
	RecordGetter
	Revoke(ctx context.Context, r inventory.Revocation) (inventory.Record, error)
}

// CRLTarget is one issuer's CRL: how to sign it and where to publish it.
type CRLTarget struct {
	CRLConfig
	PEMPath string
	DERPath string
}

// serialFinder is an optional ability of a RevokerStore (*certstore.Store
// has it): finding a serial under any issuer. Without it, Revoker looks
// under each issuer in its CRLs.
type serialFinder interface {
	FindBySerial(ctx context.Context, serial string) ([]inventory.Record, error)
}

// Revoker revokes certificates and republishes the issuer's CRL.
type Revoker struct {
	Store RevokerStore
	CRLs  map[string]CRLTarget // by issuer key id (lower-case hex SKI)
	Now   func() time.Time     // nil means time.Now
}

// RevokeRequest names the certificate to revoke and why.
type RevokeRequest struct {
	Serial      string // hex, any case, colons and leading zeros allowed
	IssuerKeyID string // optional when the serial is recorded under only one configured issuer
	Reason      int    // RFC 5280 CRLReason code
	Actor       string // who revokes, for the audit trail
	Force       bool   // required to revoke a CA certificate
}

// Revoke records the revocation (with its audit entry, in one store
// transaction) and then republishes the issuer's CRL. Nothing changes when
// the serial is malformed or unknown, the certificate is already revoked
// (inventory.ErrAlreadyRevoked), it is a CA certificate and Force is not set
// (ErrCANeedsForce), or the store fails. If the revocation is recorded but
// the CRL cannot be published, the record is returned with an error matching
// ErrCRLNotPublished, and the previously published CRL files are untouched.
// A self-signed root is never revoked (ErrSelfSignedRoot), force or not.
func (r *Revoker) Revoke(ctx context.Context, req RevokeRequest) (inventory.Record, CRLInfo, error) {
	if !validReason(req.Reason) {
		return inventory.Record{}, CRLInfo{}, fmt.Errorf("%w: %d", ErrBadReason, req.Reason)
	}
	serial, err := normalizeSerial(req.Serial)
	if err != nil {
		return inventory.Record{}, CRLInfo{}, err
	}
	rec, err := r.find(ctx, strings.ToLower(req.IssuerKeyID), serial)
	if err != nil {
		return inventory.Record{}, CRLInfo{}, err
	}
	if rec.Type == inventory.TypeCA && selfSigned(rec.DER) {
		return inventory.Record{}, CRLInfo{}, fmt.Errorf("%w: %s (%s) is a trust anchor; nothing above it can sign a CRL that lists it",
			ErrSelfSignedRoot, rec.CN, serial)
	}
	if rec.Type == inventory.TypeCA && !req.Force {
		return inventory.Record{}, CRLInfo{}, fmt.Errorf("%w: %s (%s)", ErrCANeedsForce, rec.CN, serial)
	}
	if rec.Status == inventory.StatusRevoked {
		return inventory.Record{}, CRLInfo{}, fmt.Errorf("revoke %s: %w", serial, inventory.ErrAlreadyRevoked)
	}
	rec, err = r.Store.Revoke(ctx, inventory.Revocation{
		IssuerKeyID: rec.IssuerKeyID, Serial: serial, Reason: req.Reason, Actor: req.Actor,
		At: nowOr(r.Now).UTC(),
	})
	if err != nil {
		return inventory.Record{}, CRLInfo{}, fmt.Errorf("revoke %s: %w", serial, err)
	}
	target, ok := r.CRLs[rec.IssuerKeyID]
	if !ok {
		return rec, CRLInfo{}, fmt.Errorf("%w: %w: issuer %s", ErrCRLNotPublished, ErrNoCRLTarget, rec.IssuerKeyID)
	}
	info, err := PublishCRL(ctx, r.Store, target.CRLConfig, target.PEMPath, target.DERPath)
	if err != nil {
		return rec, CRLInfo{}, fmt.Errorf("%w: %w", ErrCRLNotPublished, err)
	}
	return rec, info, nil
}

// find looks the serial up under the given issuer, or under every configured
// issuer when none is given.
func (r *Revoker) find(ctx context.Context, issuerKeyID, serial string) (inventory.Record, error) {
	if issuerKeyID != "" {
		rec, err := r.Store.Get(ctx, issuerKeyID, serial)
		if err != nil {
			return inventory.Record{}, fmt.Errorf("revoke %s: %w", serial, err)
		}
		return rec, nil
	}
	if fs, ok := r.Store.(serialFinder); ok {
		found, err := fs.FindBySerial(ctx, serial)
		if err != nil {
			return inventory.Record{}, fmt.Errorf("revoke %s: %w", serial, err)
		}
		return oneRecord(serial, found)
	}
	keys := make([]string, 0, len(r.CRLs))
	for k := range r.CRLs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var found []inventory.Record
	for _, k := range keys {
		rec, err := r.Store.Get(ctx, k, serial)
		if errors.Is(err, inventory.ErrNotFound) {
			continue
		}
		if err != nil {
			return inventory.Record{}, fmt.Errorf("revoke %s: %w", serial, err)
		}
		found = append(found, rec)
	}
	return oneRecord(serial, found)
}

func oneRecord(serial string, found []inventory.Record) (inventory.Record, error) {
	switch len(found) {
	case 0:
		return inventory.Record{}, fmt.Errorf("revoke %s: %w", serial, inventory.ErrNotFound)
	case 1:
		return found[0], nil
	default:
		return inventory.Record{}, fmt.Errorf("%w: %s; name the issuer", ErrAmbiguousSerial, serial)
	}
}

// normalizeSerial turns "0A:1B", "0x0a1b" or "A1B" into the inventory form
// "a1b", refusing anything else, and zero, with ErrMalformedSerial.
func normalizeSerial(s string) (string, error) {
	t, err := inventory.NormalizeSerial(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformedSerial, err)
	}
	if t == "0" {
		return "", fmt.Errorf("%w: %q is zero", ErrMalformedSerial, s)
	}
	return t, nil
}

// selfSigned reports whether der is a self-signed certificate: issuer and
// subject equal and the signature made by its own key.
func selfSigned(der []byte) bool {
	c, err := x509.ParseCertificate(der)
	return err == nil && isSelfIssued(c) && c.CheckSignatureFrom(c) == nil
}
