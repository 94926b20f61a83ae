package inventory

import (
	"errors"
	"time"
)

// Certificate types recorded in the inventory: TypeCA for CA certificates,
// otherwise the record type of the profile that issued the certificate.
const (
	TypeCA         = "ca"
	TypeServer     = "server"
	TypeClient     = "client"
	TypeOCSPSigner = "ocsp-signer"
	TypeEmail      = "email"
)

// Types lists every certificate type the inventory accepts, in display order.
var Types = []string{TypeCA, TypeServer, TypeClient, TypeOCSPSigner, TypeEmail}

// ValidType reports whether t is one of Types.
func ValidType(t string) bool {
	for _, v := range Types {
		if v == t {
			return true
		}
	}
	return false
}

// Certificate statuses. Only StatusActive and StatusRevoked are stored;
// StatusExpired is derived at read time from NotAfter and the caller's clock,
// so the inventory never needs a sweeper job to stay truthful.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
	StatusAll     = "all"
)

// Sentinel errors callers branch on. Database-specific errors (for example
// the MySQL duplicate-key error 1062, SQLite's UNIQUE constraint failure or
// PostgreSQL's unique_violation) are translated into these by the store.
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
	Type        string    // one of Types
	CN          string    // subject common name
	SANs        []string  // DNS names, IP addresses and e-mail addresses, in certificate order
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

// Revocation asks for one certificate to be revoked.
type Revocation struct {
	IssuerKeyID string
	Serial      string    // any notation NormalizeSerial accepts
	Reason      int       // RFC 5280 CRLReason code; see ParseReason
	Actor       string    // who revoked it; empty means "scca"
	At          time.Time // revocation time; zero means now
}

// RevokedEntry is one line of a CRL.
type RevokedEntry struct {
	Serial    string
	RevokedAt time.Time
	Reason    int
}

// RevocationEvent is one revocation as the audit log recorded it.
type RevocationEvent struct {
	AuditID     int64 // the audit entry's id: the watermark to pass to RevocationsSince
	IssuerKeyID string
	Serial      string
	At          time.Time // when the revocation was recorded (the audit entry's time), UTC
}
