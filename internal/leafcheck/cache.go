package leafcheck

import (
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"
)

// Cache remembers the chains Verify built, so that a peer that comes back
// with the same certificates (a reconnecting chat client, the server a
// client dials again) is not verified again signature by signature.
//
// Only the signature work is reused, and it is a pure function of its
// inputs: whether the same certificate bytes chain, with the same
// intermediates, to the same trust anchors for the same purpose and name.
// An entry is keyed by the very *x509.Certificate and *x509.CertPool values
// the caller passes (the map holds them, so none can be freed and its
// address reused while the entry exists); a CertPool can only grow, so a
// chain that verified once still does. What depends on time is checked on
// every use: the leaf checks of Verify, and the validity period of every
// certificate in the remembered chain. Failures are never remembered.
// Revocation is not Verify's business and is not touched by the cache.
//
// The zero Cache is not usable; NewCache makes one. It is safe for
// concurrent use.
type Cache struct {
	max int
	ttl time.Duration

	mu sync.Mutex
	m  map[cacheKey]cacheEntry
	// built counts chains verified in full (tests tell hits from misses).
	built atomic.Int64
}

// MaxExtra is the largest number of peer-sent intermediates a chain can
// have and still be cached (a longer one is verified every time).
const MaxExtra = 3

type cacheKey struct {
	roots, inter *x509.CertPool
	leaf         *x509.Certificate
	extra        [MaxExtra]*x509.Certificate
	purpose      x509.ExtKeyUsage
	name         string
}

type cacheEntry struct {
	chain []*x509.Certificate
	added time.Time
}

// NewCache returns a cache of at most max chains, each reused for at most
// ttl after it was built (by the clock passed to Verify). When full it
// starts over, which bounds it without bookkeeping.
func NewCache(max int, ttl time.Duration) *Cache {
	return &Cache{max: max, ttl: ttl}
}

// Verify is the package-level Verify for cert with the peer-sent
// intermediates extra added to the intermediates pool, reusing a chain c
// built earlier for exactly the same inputs (see Cache). A nil c verifies
// every time. The returned chain is shared: callers must not modify it.
func (c *Cache) Verify(roots, intermediates *x509.CertPool, extra []*x509.Certificate, cert *x509.Certificate, purpose x509.ExtKeyUsage, name string, now time.Time) ([]*x509.Certificate, error) {
	if err := checkLeaf(cert, purpose, now); err != nil {
		return nil, err
	}
	key, cacheable := cacheKey{roots: roots, inter: intermediates, leaf: cert, purpose: purpose, name: name}, c != nil && len(extra) <= MaxExtra
	if cacheable {
		copy(key.extra[:], extra)
		if chain, ok := c.get(key, now); ok {
			return chain, nil
		}
	}
	chain, err := verifyChain(roots, withExtra(intermediates, extra), cert, purpose, name, now)
	if c != nil {
		c.built.Add(1)
	}
	if err == nil && cacheable {
		c.put(key, cacheEntry{chain: chain, added: now})
	}
	return chain, err
}

// withExtra is pool plus extra, as a new pool (pool itself is not changed).
func withExtra(pool *x509.CertPool, extra []*x509.Certificate) *x509.CertPool {
	if len(extra) == 0 {
		return pool
	}
	p := x509.NewCertPool()
	if pool != nil { // a nil pool cannot be cloned
		p = pool.Clone()
	}
	for _, e := range extra {
		p.AddCert(e)
	}
	return p
}

func (c *Cache) get(k cacheKey, now time.Time) ([]*x509.Certificate, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	if age := now.Sub(e.added); age < 0 || age > c.ttl {
		return nil, false
	}
	for _, ce := range e.chain {
		if now.Before(ce.NotBefore) || now.After(ce.NotAfter) {
			return nil, false
		}
	}
	return e.chain, true
}

func (c *Cache) put(k cacheKey, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[cacheKey]cacheEntry)
	}
	c.m[k] = e
}
