package enroll

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit bounds failed token attempts per source address: Burst
// failures at once, then one per Every. Zero values take the defaults
// (10 failures, then one a minute).
type RateLimit struct {
	Burst int
	Every time.Duration
}

// maxSources bounds the limiter table; when full it starts afresh, which
// at worst gives an attacker with that many addresses a new burst each.
const maxSources = 10000

// failureLimiter remembers failed authentications per source IP.
type failureLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	now     func() time.Time
	sources map[string]*rate.Limiter
}

func newFailureLimiter(cfg RateLimit, now func() time.Time) *failureLimiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	return &failureLimiter{every: rate.Every(cfg.Every), burst: cfg.Burst, now: now, sources: map[string]*rate.Limiter{}}
}

func (f *failureLimiter) limiter(r *http.Request) *rate.Limiter {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
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

// blocked reports whether the source has used up its failures.
func (f *failureLimiter) blocked(r *http.Request) bool {
	return f.limiter(r).TokensAt(f.now()) < 1
}

// fail records one failed attempt.
func (f *failureLimiter) fail(r *http.Request) { f.limiter(r).AllowN(f.now(), 1) }
