package certstore

import (
	"errors"
	"time"
)

// Certificate types (profiles) recorded in the inventory.
const (
	TypeCA     = "ca"
	TypeServer = "server"
	TypeClient = "client"
	// TypeOCSPSigner is a CA's short-lived delegated OCSP responder
	// certificate (ca.ProfileOCSPSigner).
	TypeOCSPSigner = "ocsp-signer"
)

// Certificate statuses. Only StatusActive and StatusRevoked are stored;
// StatusExpired is derived at read time from NotAfter and the caller's clock,
// so the inventory never needs a sweeper job to stay truthful.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
	StatusAll     = "all"
)

// Sentinel errors callers branch on. Backend-specific errors (for example the
// MySQL duplicate-key error 1062 or SQLite's UNIQUE constraint failure) are
// translated into these at the store boundary.
var (
	ErrNotFound       = errors.New("certificate not found in inventory")
	ErrDuplicate      = errors.New("certificate already recorded (same issuer and serial)")
	ErrAlreadyRevoked = errors.New("certificate is already revoked")
	ErrSchemaVersion  = errors.New("inventory schema is not at the expected version")
)

// Record is one certificate in the inventory.
type Record struct {
	Serial      string    // lower-case hex, no colons, no leading zeros
	IssuerKeyID string    // lower-case hex of the issuer's Subject Key Identifier
	Type        string    // TypeCA, TypeServer, TypeClient or TypeOCSPSigner
	CN          string    // subject common name
	SANs        []string  // DNS names and IP addresses, in certificate order
	NotBefore   time.Time // UTC
	NotAfter    time.Time // UTC
	Status      string    // StatusActive or StatusRevoked as stored; see Record.StatusAt
	RevokedAt   *time.Time
	Reason      *int   // RFC 5280 CRLReason code, nil unless revoked
	RevokedBy   string // actor who revoked it, empty unless revoked
	Fingerprint string // lower-case hex SHA-256 of DER
	DER         []byte
	IssuedAt    time.Time // UTC, when the row was committed
	IssuedBy    string    // actor who issued it (operator name or "scca")
}

// StatusAt reports the effective status at time now: a stored "active"
// certificate past its NotAfter is StatusExpired.
func (r Record) StatusAt(now time.Time) string {
	if r.Status == StatusActive && now.After(r.NotAfter) {
		return StatusExpired
	}
	return r.Status
}
