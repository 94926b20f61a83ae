package chat

import (
	"crypto/x509"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/chat/channel"
)

// Defaults for zero config fields (docs/PROTOCOL.md §9); the channel's
// are channel.Default*.
const (
	DefaultHandshakeTimeout   = channel.DefaultHandshakeTimeout
	DefaultStatusCheckTimeout = channel.DefaultStatusCheckTimeout
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultWriteTimeout       = channel.DefaultWriteTimeout
	DefaultMaxConns           = channel.DefaultMaxConns
	DefaultTimestampWindow    = channel.DefaultTimestampWindow
	DefaultKeyUpdateAfter     = channel.DefaultKeyUpdateAfter
	DefaultMaxHandshakes      = channel.DefaultMaxHandshakes
	DefaultMaxHandshakesPerIP = channel.DefaultMaxHandshakesPerIP
	DefaultFirstFrameTimeout  = channel.DefaultFirstFrameTimeout
	DefaultTicketLifetime     = channel.DefaultTicketLifetime
	DefaultTicketRotation     = channel.DefaultTicketRotation
	DefaultMaxUsedTickets     = channel.DefaultMaxUsedTickets
)

// roots and intermediates are what a config trusts: its Roots and
// Intermediates, or the deprecated Trust's when Roots is nil.
func roots(r *x509.CertPool, legacy ca.Trust) *x509.CertPool {
	if r == nil {
		return legacy.Roots
	}
	return r
}

func intermediates(r, i *x509.CertPool, legacy ca.Trust) *x509.CertPool {
	if r == nil {
		return legacy.Intermediates
	}
	return i
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
