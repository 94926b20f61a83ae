// Package failrate bounds failed authentication attempts per source
// address, for the online CA's token endpoint and the browser page's relay
// to it, so both apply one policy in one piece of code. It only counts:
// what a blocked source is told is the caller's business.
package failrate

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults: 10 failures at once, then one a minute.
const (
	DefaultBurst = 10
	DefaultEvery = time.Minute
)

// maxSources bounds the table; when full it starts afresh, which at worst
// gives an attacker with that many addresses a new burst each.
const maxSources = 10000

// Limiter remembers failed attempts per source IP: burst failures at once,
// then one per every.
type Limiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	now     func() time.Time
	sources map[string]*rate.Limiter
}

// New returns a Limiter; zero values take the defaults, a nil now is
// time.Now.
func New(burst int, every time.Duration, now func() time.Time) *Limiter {
	if burst <= 0 {
		burst = DefaultBurst
	}
	if every <= 0 {
		every = DefaultEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: rate.Every(every), burst: burst, now: now, sources: map[string]*rate.Limiter{}}
}

func (f *Limiter) limiter(remote string) *rate.Limiter {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.sources[host]
	if !ok {
		if len(f.sources) >= maxSources {
			clear(f.sources)
		}
		l = rate.NewLimiter(f.every, f.burst)
		f.sources[host] = l
	}
	return l
}

// Blocked reports whether the address (host or host:port) has used up its
// failed attempts.
func (f *Limiter) Blocked(remote string) bool { return f.limiter(remote).TokensAt(f.now()) < 1 }

// Fail records one failed attempt from the address.
func (f *Limiter) Fail(remote string) { f.limiter(remote).AllowN(f.now(), 1) }
