package channel

import (
	"sync"
	"time"
)

// ReplayCache remembers client_randoms until their hello's timestamp leaves
// the window, so a replayed client_hello is refused before the server signs
// anything (docs/PROTOCOL.md §7). It is defence in depth: a replay could not
// complete anyway, since the server's fresh random changes the transcript
// the client must sign. When full, the oldest entries are dropped rather
// than refusing new clients.
type ReplayCache struct {
	mu    sync.Mutex
	seen  map[[RandomLen]byte]time.Time
	order []replayEntry
	max   int
}

type replayEntry struct {
	random  [RandomLen]byte
	expires time.Time
}

func NewReplayCache(max int) *ReplayCache {
	return &ReplayCache{seen: make(map[[RandomLen]byte]time.Time), max: max}
}

// Add records random until expires and reports whether it was new.
func (c *ReplayCache) Add(random []byte, expires, now time.Time) bool {
	var k [RandomLen]byte
	copy(k[:], random)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && (len(c.order) >= c.max || !c.order[0].expires.After(now)) {
		if c.seen[c.order[0].random] == c.order[0].expires {
			delete(c.seen, c.order[0].random)
		}
		c.order = c.order[1:]
	}
	if exp, ok := c.seen[k]; ok && exp.After(now) {
		return false
	}
	c.seen[k] = expires
	c.order = append(c.order, replayEntry{random: k, expires: expires})
	return true
}
