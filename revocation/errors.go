package revocation

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/securechat/scca/inventory"
)

// Errors a Checker (and the revocation helpers) return. Each is wrapped with
// detail; callers branch with errors.Is. A revoked certificate is reported as
// a *RevokedError, which matches ErrRevoked.
var (
	ErrRevoked             = errors.New("certificate is revoked")
	ErrUnknown             = errors.New("certificate status is unknown")
	ErrFingerprintMismatch = errors.New("certificate does not match the inventory's fingerprint for its serial")
	ErrExpired             = errors.New("certificate is outside its validity period")
	ErrUnavailable         = errors.New("revocation source is unavailable")
	ErrStale               = errors.New("revocation data is past its nextUpdate")
	ErrBadSignature        = errors.New("revocation data is not signed by the expected issuer")

	ErrCANeedsForce    = errors.New("revoking a CA certificate needs force")
	ErrMalformedSerial = errors.New("malformed serial number")
	ErrBadReason       = errors.New("invalid revocation reason code")
	ErrAmbiguousSerial = errors.New("serial is recorded under more than one issuer")
	ErrNoCRLTarget     = errors.New("no CRL is configured for the certificate's issuer")
	ErrCRLNotPublished = errors.New("revocation recorded, but the CRL was not republished")
)

// RevokedError reports a revoked certificate with the revocation time and
// RFC 5280 reason code given by the source.
type RevokedError struct {
	Serial    string // lower-case hex
	RevokedAt time.Time
	Reason    int
	Source    string // "inventory", "crl" or "ocsp"
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("certificate %s is revoked (%s) since %s, according to the %s",
		e.Serial, inventory.ReasonName(e.Reason), e.RevokedAt.UTC().Format(time.RFC3339), e.Source)
}

// Is makes errors.Is(err, ErrRevoked) true for a *RevokedError.
func (e *RevokedError) Is(target error) bool { return target == ErrRevoked }

// validReason reports whether code may be recorded for a revocation in a
// full CRL (certstore refuses removeFromCRL, which only delta CRLs use).
func validReason(code int) bool {
	_, err := inventory.ParseReason(strconv.Itoa(code))
	return err == nil
}
