package crypto

import (
	"context"
	"sync"
	"time"
)

// NonceClaim is one accepted signature's nonce, to be remembered until Expiry (the time
// its signature goes stale) so that the request cannot be sent again.
type NonceClaim struct {
	Dept   string // whose share of the cache it uses
	KeyID  string
	Nonce  string
	Expiry time.Time
	// Restore marks a claim rebuilt from the audit log after a restart: it was accepted
	// once already, so it is remembered even beyond the bounds — forgetting it would
	// reopen a replay — and never refused as full.
	Restore bool
}

// ReplayStore remembers claimed nonces. ClaimNonce refuses (SigReplayed) a nonce already
// claimed with the same key and still fresh, and (SigReplayFull) a claim the store has no
// room for; any other error means the store could not answer, and the caller must refuse
// rather than forward. ReleaseNonce forgets a claim whose exchange was refused before it
// was forwarded (no route, denied), so that such requests use no share; the signature may
// then be sent again, and is checked again. NonceCache is the in-process store; a store
// shared by a fleet of gateways (Redis) implements the same interface.
type ReplayStore interface {
	ClaimNonce(ctx context.Context, c NonceClaim, now time.Time) error
	ReleaseNonce(ctx context.Context, c NonceClaim) error
}

// NonceCache remembers the nonces of accepted signatures until their signatures go stale,
// so that a captured request cannot be sent again. Memory is bounded by max entries, and
// each department by perDept of them, so that one department cannot fill the cache for
// every other; when a bound is reached, new nonces are refused rather than old ones
// forgotten, since forgetting would reopen a replay window.
type NonceCache struct {
	mu       sync.Mutex
	max      int
	perDept  int
	seen     map[string]seenNonce // keyid\x00nonce → its expiry and share
	depts    map[string]int       // dept → nonces it holds
	order    []nonceEntry         // insertion order, for expiry from the front
	dropped  int                  // entries at the front of order already removed
	released int                  // entries in order whose claim was released
}

type seenNonce struct {
	expiry int64 // unix nanos
	dept   string
}

type nonceEntry struct {
	key    string
	dept   string
	expiry int64
}

// DefaultMaxNonces bounds the cache when no bound is given.
const DefaultMaxNonces = 1_000_000

// NewNonceCache returns a cache of at most max nonces (DefaultMaxNonces when max ≤ 0),
// with no department share below that.
func NewNonceCache(max int) *NonceCache { return NewNonceCacheShared(max, 0) }

// NewNonceCacheShared returns a cache of at most max nonces of which one department holds
// at most perDept (max when perDept ≤ 0 or larger).
func NewNonceCacheShared(max, perDept int) *NonceCache {
	if max <= 0 {
		max = DefaultMaxNonces
	}
	if perDept <= 0 || perDept > max {
		perDept = max
	}
	return &NonceCache{max: max, perDept: perDept, seen: map[string]seenNonce{}, depts: map[string]int{}}
}

// Claim records nonce for keyID until expiry, in the share of no department.
func (c *NonceCache) Claim(keyID, nonce string, expiry, now time.Time) error {
	return c.ClaimNonce(context.Background(), NonceClaim{KeyID: keyID, Nonce: nonce, Expiry: expiry}, now)
}

// ClaimNonce implements ReplayStore.
func (c *NonceCache) ClaimNonce(_ context.Context, cl NonceClaim, now time.Time) error {
	key := cl.KeyID + "\x00" + cl.Nonce
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now.UnixNano())
	old, ok := c.seen[key]
	if ok && old.expiry > now.UnixNano() {
		return sigErr(SigReplayed, "nonce %q was already used with this key", cl.Nonce)
	}
	if !cl.Restore {
		if len(c.seen) >= c.max {
			return sigErr(SigReplayFull, "%v: the gateway cannot accept more signed requests until older ones expire", ErrReplayCacheFull)
		}
		if c.depts[cl.Dept] >= c.perDept {
			return sigErr(SigReplayFull, "%v: department %q holds its whole share (%d) of the replay cache; older signatures expire within the skew", ErrReplayCacheFull, cl.Dept, c.perDept)
		}
	}
	if ok {
		// Stale but not yet dropped (it sat behind a fresher entry): its entry in order
		// will no longer match, so its share is given back here.
		c.release(old.dept)
	}
	c.seen[key] = seenNonce{cl.Expiry.UnixNano(), cl.Dept}
	c.depts[cl.Dept]++
	c.order = append(c.order, nonceEntry{key, cl.Dept, cl.Expiry.UnixNano()})
	return nil
}

// expire drops entries whose signatures have gone stale. Entries are appended in arrival
// order and every expiry is created+skew, so the front is close to the oldest; an entry
// behind a fresher one waits a little longer, which only costs memory within the bound.
func (c *NonceCache) expire(now int64) {
	i := c.dropped
	for i < len(c.order) && c.order[i].expiry <= now {
		e := c.order[i]
		if s, ok := c.seen[e.key]; ok && s.expiry == e.expiry && s.dept == e.dept {
			delete(c.seen, e.key)
			c.release(e.dept)
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

// ReleaseNonce implements ReplayStore: the claim is forgotten if it is still the one held.
func (c *NonceCache) ReleaseNonce(_ context.Context, cl NonceClaim) error {
	key := cl.KeyID + "\x00" + cl.Nonce
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.seen[key]; ok && s.expiry == cl.Expiry.UnixNano() && s.dept == cl.Dept {
		delete(c.seen, key)
		c.release(cl.Dept)
		c.released++
		c.compact()
	}
	return nil
}

// compact drops the entries of released claims from order once they outnumber the live
// ones, so that a flood of requests refused before forwarding does not grow order beyond
// the cache's bound while their entries wait for expiry.
func (c *NonceCache) compact() {
	if c.released < 1024 || c.released < len(c.seen) {
		return
	}
	live := c.order[:0:0]
	for _, e := range c.order[c.dropped:] {
		if s, ok := c.seen[e.key]; ok && s.expiry == e.expiry && s.dept == e.dept {
			live = append(live, e)
		}
	}
	c.order, c.dropped, c.released = live, 0, 0
}

func (c *NonceCache) release(dept string) {
	if c.depts[dept]--; c.depts[dept] <= 0 {
		delete(c.depts, dept)
	}
}

// Len is the number of nonces remembered.
func (c *NonceCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// DeptLen is the number of nonces remembered in dept's share.
func (c *NonceCache) DeptLen(dept string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.depts[dept]
}
