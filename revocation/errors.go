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

	// ErrSelfSignedRoot: a self-signed root cannot be revoked; no CRL can
	// cover it (RFC 5280 §6.1: the trust anchor is outside path
	// validation). It is replaced and removed from trust stores instead.
	ErrSelfSignedRoot = errors.New("a self-signed root CA cannot be revoked")
	// ErrIssuerRevoked: the CA that would sign is itself revoked.
	ErrIssuerRevoked = errors.New("the issuing CA is revoked")
	// ErrCRLWentBack: publishing would replace a CRL by one with a lower
	// number.
	ErrCRLWentBack = errors.New("crl number would go backwards")
	// ErrCRLPairMismatch: crl.pem and crl.der hold different CRLs.
	ErrCRLPairMismatch = errors.New("published PEM and DER CRLs differ")
	// ErrCRLIncomplete: a published CRL lacks revocations the inventory
	// holds.
	ErrCRLIncomplete = errors.New("published CRL lacks revocations recorded in the inventory")
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
