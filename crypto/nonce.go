package crypto

import (
	"sync"
	"time"
)

// NonceCache remembers the nonces of accepted signatures until their signatures go stale,
// so that a captured request cannot be sent again. Memory is bounded by max entries; when
// that many nonces are all still fresh, new ones are refused rather than old ones
// forgotten, since forgetting would reopen a replay window.
type NonceCache struct {
	mu      sync.Mutex
	max     int
	seen    map[string]int64 // keyid\x00nonce → expiry, unix nanos
	order   []nonceEntry     // insertion order, for expiry from the front
	dropped int              // entries at the front of order already removed
}

type nonceEntry struct {
	key    string
	expiry int64
}

// NewNonceCache returns a cache of at most max nonces (a default of 1,000,000 when max ≤ 0).
func NewNonceCache(max int) *NonceCache {
	if max <= 0 {
		max = 1_000_000
	}
	return &NonceCache{max: max, seen: map[string]int64{}}
}

// Claim records nonce for keyID until expiry. It refuses a nonce already claimed and
// still fresh, and any nonce when the cache is full of fresh ones.
func (c *NonceCache) Claim(keyID, nonce string, expiry, now time.Time) error {
	key := keyID + "\x00" + nonce
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now.UnixNano())
	if exp, ok := c.seen[key]; ok && exp > now.UnixNano() {
		return sigErr(SigReplayed, "nonce %q was already used with this key", nonce)
	}
	if len(c.seen) >= c.max {
		return sigErr(SigReplayFull, "%v: the gateway cannot accept more signed requests until older ones expire", ErrReplayCacheFull)
	}
	c.seen[key] = expiry.UnixNano()
	c.order = append(c.order, nonceEntry{key, expiry.UnixNano()})
	return nil
}

// expire drops entries whose signatures have gone stale. Entries are appended in arrival
// order and every expiry is created+skew, so the front is close to the oldest; an entry
// behind a fresher one waits a little longer, which only costs memory within the bound.
func (c *NonceCache) expire(now int64) {
	i := c.dropped
	for i < len(c.order) && c.order[i].expiry <= now {
		if c.seen[c.order[i].key] == c.order[i].expiry {
			delete(c.seen, c.order[i].key)
		}
		c.order[i] = nonceEntry{}
		i++
	}
	c.dropped = i
	if c.dropped > 1024 && c.dropped*2 > len(c.order) {
		c.order = append(c.order[:0:0], c.order[c.dropped:]...)
		c.dropped = 0
	}
}

// Len is the number of nonces remembered.
func (c *NonceCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
