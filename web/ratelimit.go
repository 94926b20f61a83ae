package web

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxSources bounds the relay's limiter table; when full it starts afresh
// (as the CA API's does).
const maxSources = 10000

// failureLimiter remembers failed enrolment attempts per browser address,
// with the CA API's policy (enroll.RateLimit): burst failures at once, then
// one per every.
type failureLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	now     func() time.Time
	sources map[string]*rate.Limiter
}

func newFailureLimiter(burst int, every time.Duration, now func() time.Time) *failureLimiter {
	if burst <= 0 {
		burst = 10
	}
	if every <= 0 {
		every = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &failureLimiter{every: rate.Every(every), burst: burst, now: now, sources: map[string]*rate.Limiter{}}
}

func (f *failureLimiter) limiter(remote string) *rate.Limiter {
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

// blocked reports whether the address has used up its failed attempts.
func (f *failureLimiter) blocked(remote string) bool { return f.limiter(remote).TokensAt(f.now()) < 1 }

// fail records one failed attempt.
func (f *failureLimiter) fail(remote string) { f.limiter(remote).AllowN(f.now(), 1) }
