package revocation

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/securechat/scca/inventory"
)

// Checker answers whether a certificate is good right now. It returns nil
// only for a good certificate; otherwise an error matching one of ErrRevoked,
// ErrUnknown, ErrFingerprintMismatch, ErrExpired, ErrUnavailable or
// ErrBadSignature. Chain validation is not its job (see ca.Trust.VerifyLeaf).
type Checker interface {
	Check(ctx context.Context, cert *x509.Certificate) error
}

var (
	_ Checker = (*InventoryChecker)(nil)
	_ Checker = (*CRLChecker)(nil)
	_ Checker = (*OCSPChecker)(nil)
)

// RecordGetter looks a certificate up in the inventory; *certstore.Store
// implements it.
type RecordGetter interface {
	Get(ctx context.Context, issuerKeyID, serial string) (inventory.Record, error)
}

// InventoryChecker answers from the inventory itself: the serial must be
// recorded under the certificate's issuer, with the same fingerprint, not
// revoked and not expired. It caches nothing, so a revocation takes effect
// on the next Check.
type InventoryChecker struct {
	Store RecordGetter
	Now   func() time.Time // nil means time.Now
}

// Check implements Checker.
func (c *InventoryChecker) Check(ctx context.Context, cert *x509.Certificate) error {
	issuerKeyID, serial, err := certID(cert)
	if err != nil {
		return err
	}
	rec, err := c.Store.Get(ctx, issuerKeyID, serial)
	switch {
	case errors.Is(err, inventory.ErrNotFound):
		return fmt.Errorf("%w: serial %s of issuer %s is not in the inventory", ErrUnknown, serial, issuerKeyID)
	case err != nil:
		return fmt.Errorf("%w: inventory: %w", ErrUnavailable, err)
	}
	sum := sha256.Sum256(cert.Raw)
	if got := hex.EncodeToString(sum[:]); got != rec.Fingerprint {
		return fmt.Errorf("%w: serial %s has fingerprint %s in the inventory, certificate has %s",
			ErrFingerprintMismatch, serial, rec.Fingerprint, got)
	}
	if rec.Status == inventory.StatusRevoked {
		re := &RevokedError{Serial: serial, Source: "inventory"}
		if rec.RevokedAt != nil {
			re.RevokedAt = *rec.RevokedAt
		}
		if rec.Reason != nil {
			re.Reason = *rec.Reason
		}
		return re
	}
	return checkValidity(cert, nowOr(c.Now))
}

// certID returns the inventory key of cert: the issuer's key identifier (from
// the certificate's authority key identifier) and the serial in lower-case hex.
func certID(cert *x509.Certificate) (issuerKeyID, serial string, err error) {
	if cert == nil {
		return "", "", fmt.Errorf("%w: no certificate", ErrUnknown)
	}
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return "", "", fmt.Errorf("%w: serial number is not positive", ErrUnknown)
	}
	if len(cert.AuthorityKeyId) == 0 {
		return "", "", fmt.Errorf("%w: certificate has no authority key identifier", ErrUnknown)
	}
	return hex.EncodeToString(cert.AuthorityKeyId), fmt.Sprintf("%x", cert.SerialNumber), nil
}

func checkValidity(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: not valid before %s", ErrExpired, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: expired at %s", ErrExpired, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func nowOr(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}
