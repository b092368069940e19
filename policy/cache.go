package policy

import (
	"sync"
	"time"
)

// decisionCache memoises decisions of one revision, keyed by the input leaves that
// revision's policy can read (Revision.reads). It holds at most max entries; an entry lives
// until Revision.expiry. A cache belongs to one revision and is replaced with it, so a
// decision never outlives the policy that made it.
type decisionCache struct {
	rev *Revision
	max int

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	d       *Decision
	expires time.Time
}

func newDecisionCache(rev *Revision, max int) *decisionCache {
	return &decisionCache{rev: rev, max: max, entries: make(map[string]cacheEntry, min(max, 1024))}
}

// get returns the cached decision for key at now, if any.
func (c *decisionCache) get(key []byte, now time.Time) *Decision {
	c.mu.Lock()
	e, ok := c.entries[string(key)]
	if ok && !now.Before(e.expires) {
		delete(c.entries, string(key))
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return e.d
}

// put stores d until expires. When the cache is full, an arbitrary entry makes room (Go's
// map iteration order is randomised); expired entries go first when one is found.
func (c *decisionCache) put(key []byte, d *Decision, now, expires time.Time) {
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[string(key)]; !ok && len(c.entries) >= c.max {
		evicted := 0
		for k, e := range c.entries {
			if evicted > 0 && now.Before(e.expires) {
				break
			}
			delete(c.entries, k)
			evicted++
			if evicted >= 8 {
				break
			}
		}
	}
	c.entries[string(key)] = cacheEntry{d: d, expires: expires}
}

func (c *decisionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
