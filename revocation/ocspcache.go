package revocation

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultOCSPCacheTTL is how long the OCSP responder reuses a signed
// response when ResponderConfig.CacheTTL is zero. Two seconds takes the
// signing off the hot path of a busy responder (each popular serial is
// signed at most once every two seconds) while keeping a revocation visible
// in OCSP almost at once.
const DefaultOCSPCacheTTL = 2 * time.Second

// maxCachedResponses bounds the cache's memory: about 1 KiB per response.
const maxCachedResponses = 50_000

// cacheTTL is the reuse time for a configured ttl and response validity: a
// response is never reused for more than a tenth of its validity, so every
// answer handed out still has most of its validity ahead of it.
func cacheTTL(ttl, validity time.Duration) time.Duration {
	if ttl < 0 {
		return 0
	}
	if ttl == 0 {
		ttl = DefaultOCSPCacheTTL
	}
	return min(ttl, validity/10)
}

// ocspAnswer is a DER OCSP response and, when it is signed, its validity
// and HTTP entity tag. The header values that do not change while it is
// served are formatted once, when it is made (see newSignedAnswer), so a
// cached answer costs no formatting per request.
type ocspAnswer struct {
	der        []byte
	thisUpdate time.Time // zero for unsigned error responses
	nextUpdate time.Time
	etag       string
	expires    time.Time // when the cache stops handing it out

	length       []string // Content-Length
	etagHdr      []string // ETag
	lastModified []string // Last-Modified: thisUpdate
	expiresHdr   []string // Expires: nextUpdate
}

// newSignedAnswer wraps a signed response valid from thisUpdate to
// nextUpdate, with its entity tag and header values.
func newSignedAnswer(der []byte, thisUpdate, nextUpdate time.Time) *ocspAnswer {
	sum := sha256.Sum256(der)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return &ocspAnswer{der: der, thisUpdate: thisUpdate, nextUpdate: nextUpdate, etag: etag,
		length: []string{strconv.Itoa(len(der))}, etagHdr: []string{etag},
		lastModified: []string{thisUpdate.Format(http.TimeFormat)},
		expiresHdr:   []string{nextUpdate.Format(http.TimeFormat)}}
}

// unsignedAnswer is an RFC 6960 §4.2.1 error response, never cached.
func unsignedAnswer(der []byte) ocspAnswer {
	return ocspAnswer{der: der, length: []string{strconv.Itoa(len(der))}}
}

// cacheKey identifies what a response answers: the DER request itself. A
// request without a nonce determines its response completely (issuer name
// and key hashes, CertID hash algorithm and serial, all echoed), so a hit
// is answered without parsing the request. Requests with a nonce are never
// cached (each response must echo its own nonce).
type cacheKey = string

// responseCache holds signed responses for ttl each. A nil cache holds
// nothing.
type responseCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[cacheKey]*ocspAnswer
}

func newResponseCache(ttl time.Duration, max int) *responseCache {
	return &responseCache{ttl: ttl, max: max, m: make(map[cacheKey]*ocspAnswer)}
}

// get returns the answer cached for the DER request k, or nil if there is
// none fresh at now. It takes the bytes so the lookup does not copy them.
func (c *responseCache) get(k []byte, now time.Time) *ocspAnswer {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	a := c.m[string(k)]
	c.mu.Unlock()
	if a == nil || !now.Before(a.expires) {
		return nil
	}
	return a
}

// put caches a, signed at now, until now+ttl. When the cache is full it
// first drops expired answers, and if that is not enough, everything: a
// full cache means a scan over many serials, which a cache cannot help.
func (c *responseCache) put(k cacheKey, a *ocspAnswer, now time.Time) {
	if c == nil {
		return
	}
	a.expires = now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, key)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = a
}
