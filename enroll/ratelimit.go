package enroll

import "time"

// RateLimit bounds failed token attempts per source address: Burst
// failures at once, then one per Every. Zero values take the defaults
// (10 failures, then one a minute).
type RateLimit struct {
	Burst int
	Every time.Duration
}
