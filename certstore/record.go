package certstore

import "github.com/securechat/scca/inventory"

// The inventory's record types, statuses and sentinel errors live in the
// driver-free package inventory, so that its consumers need not link SQL
// drivers. These aliases keep certstore.X compiling for callers that
// already hold a *Store.

// Certificate types; see inventory.Types.
const (
	TypeCA         = inventory.TypeCA
	TypeServer     = inventory.TypeServer
	TypeClient     = inventory.TypeClient
	TypeOCSPSigner = inventory.TypeOCSPSigner
	TypeEmail      = inventory.TypeEmail
)

// Certificate statuses; see inventory.StatusActive.
const (
	StatusActive  = inventory.StatusActive
	StatusRevoked = inventory.StatusRevoked
	StatusExpired = inventory.StatusExpired
	StatusAll     = inventory.StatusAll
)

// Sentinel errors; see package inventory.
var (
	ErrNotFound       = inventory.ErrNotFound
	ErrDuplicate      = inventory.ErrDuplicate
	ErrAlreadyRevoked = inventory.ErrAlreadyRevoked
	ErrSchemaVersion  = inventory.ErrSchemaVersion
	ErrQueueFull      = inventory.ErrQueueFull
	ErrQuotaExceeded  = inventory.ErrQuotaExceeded
)

// Record types; see package inventory.
type (
	Record          = inventory.Record
	Revocation      = inventory.Revocation
	RevokedEntry    = inventory.RevokedEntry
	RevocationEvent = inventory.RevocationEvent
	QueuedMessage   = inventory.QueuedMessage
	QueueFullError  = inventory.QueueFullError
	QueueLimits     = inventory.QueueLimits
	QuotaError      = inventory.QuotaError
)

// Quota scopes; see package inventory.
const (
	QuotaSender = inventory.QuotaSender
	QuotaTotal  = inventory.QuotaTotal
)

// MaxBodySize is inventory.MaxBodySize.
const MaxBodySize = inventory.MaxBodySize

// CRLReason codes, RFC 5280 §5.3.1; see package inventory.
const (
	ReasonUnspecified          = inventory.ReasonUnspecified
	ReasonKeyCompromise        = inventory.ReasonKeyCompromise
	ReasonCACompromise         = inventory.ReasonCACompromise
	ReasonAffiliationChanged   = inventory.ReasonAffiliationChanged
	ReasonSuperseded           = inventory.ReasonSuperseded
	ReasonCessationOfOperation = inventory.ReasonCessationOfOperation
	ReasonCertificateHold      = inventory.ReasonCertificateHold
	ReasonRemoveFromCRL        = inventory.ReasonRemoveFromCRL
	ReasonPrivilegeWithdrawn   = inventory.ReasonPrivilegeWithdrawn
	ReasonAACompromise         = inventory.ReasonAACompromise
)

// ReasonName is inventory.ReasonName.
func ReasonName(code int) string { return inventory.ReasonName(code) }

// ParseReason is inventory.ParseReason.
func ParseReason(name string) (int, error) { return inventory.ParseReason(name) }

// NormalizeSerial is inventory.NormalizeSerial.
func NormalizeSerial(s string) (string, error) { return inventory.NormalizeSerial(s) }

func validReason(code int) bool { return inventory.ValidReason(code) }
