package chat

import (
	"time"

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

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
