package chat

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"sync"
	"time"

	"github.com/securechat/scca/chat/channel"
)

// MaxCheckCacheTTL bounds how long a positive PeerChecker answer is reused
// (docs/PROTOCOL.md §7.4): a revoked certificate starts no new session once
// its revocation has been committed for this long.
const MaxCheckCacheTTL = time.Second

// maxCachedChecks bounds the cache; when full it starts over.
const maxCachedChecks = 4096

// checkCache is a PeerChecker that remembers positive answers of the
// checker it wraps for at most ttl, measured from the moment the check that
// produced the answer started. It never caches a refusal or an error. It
// is flushed by every revocation the feed reports and bypassed (and
// flushed) while the feed is failing or has not answered yet, so it fails
// closed: without a working feed every handshake asks the checker.
//
// The bound holds without the feed: a check that started after the
// revocation was committed sees it and is not cached, and one that started
// earlier is reused for less than ttl after it started.
type checkCache struct {
	next PeerChecker
	ttl  time.Duration
	now  func() time.Time // real (monotonic) clock: ServerConfig.Now may be pinned

	mu      sync.Mutex
	healthy bool   // the revocation feed's last poll succeeded
	gen     uint64 // bumped by every flush: a check that spans one is not stored
	m       map[[sha256.Size]byte]time.Time
}

func newCheckCache(next PeerChecker, ttl time.Duration, now func() time.Time) *checkCache {
	if now == nil {
		now = time.Now
	}
	return &checkCache{next: next, ttl: min(ttl, MaxCheckCacheTTL), now: now,
		m: make(map[[sha256.Size]byte]time.Time)}
}

// Check answers from the cache when the same certificate (by SHA-256 of its
// DER) was found good less than ttl ago and nothing was revoked since;
// otherwise it asks the wrapped checker.
func (c *checkCache) Check(ctx context.Context, cert *x509.Certificate) error {
	return c.cached(ctx, sha256.Sum256(cert.Raw), func(ctx context.Context) error { return c.next.Check(ctx, cert) })
}

// CheckChain keeps the wrapped checker's chain ability (channel.PeerChainChecker):
// the whole verified chain is checked, so a revoked intermediate refuses the
// peers it issued, and the answer is cached for that exact chain (the
// SHA-256 of its certificates' SHA-256s, leaf first). A checker without the
// ability is given the leaf, as channel.CheckPeerChain would.
func (c *checkCache) CheckChain(ctx context.Context, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("no certificate to check")
	}
	h := sha256.New()
	for _, cert := range chain {
		fp := sha256.Sum256(cert.Raw)
		h.Write(fp[:])
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return c.cached(ctx, key, func(ctx context.Context) error { return channel.CheckPeerChain(ctx, c.next, chain) })
}

// cached answers for key from the cache, or runs check and remembers a
// positive answer (the rules are on checkCache).
func (c *checkCache) cached(ctx context.Context, fp [sha256.Size]byte, check func(context.Context) error) error {
	start := c.now()
	c.mu.Lock()
	if until, ok := c.m[fp]; ok && c.healthy && start.Before(until) {
		c.mu.Unlock()
		return nil
	}
	gen := c.gen
	c.mu.Unlock()
	if err := check(ctx); err != nil {
		return err // never cached: the next handshake asks again
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.healthy && c.gen == gen {
		if len(c.m) >= maxCachedChecks {
			clear(c.m)
		}
		c.m[fp] = start.Add(c.ttl)
	}
	return nil
}

// flush forgets every cached answer (a revocation was reported).
func (c *checkCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// setFeedHealthy records the outcome of a revocation poll; a failed poll
// flushes the cache and stops it from being used until a poll succeeds.
func (c *checkCache) setFeedHealthy(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		c.gen++
		clear(c.m)
	}
	c.healthy = ok
}
