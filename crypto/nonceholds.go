package crypto

import "time"

// Holds reports whether the cache remembers nonce for keyID as still fresh at now,
// without claiming it: a store shared by a fleet checks the claims its gateway made alone
// while the shared store was down.
func (c *NonceCache) Holds(keyID, nonce string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.seen[keyID+"\x00"+nonce]
	return ok && s.expiry > now.UnixNano()
}
