package gateway

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"
)

// What the end-to-end tests of package gateway_test reach inside the gateway.

// ApplyDefaults fills the defaults of a config built in a test.
func (c *Config) ApplyDefaults() { c.applyDefaults() }

// ErrorBody is the JSON of a refusal.
type ErrorBody = errorBody

// Encode compresses data with a content coding.
var Encode = encode

// HandshakeFailures is how many failed handshakes of reason a listener counted.
func (g *Gateway) HandshakeFailures(listener string, reason string) uint64 {
	h := g.metrics.handshakeFailures(listener)
	for i, r := range h.reasons {
		if r == reason {
			return h.counts[i].Load()
		}
	}
	return 0
}

// ReleaseBudget is a test's hold on the release memory budget in force.
type ReleaseBudget struct{ m *releaseMemory }

// ReleaseBudget is the budget of the runtime in force.
func (g *Gateway) ReleaseBudget() ReleaseBudget { return ReleaseBudget{g.rt.Load().release} }

// TakeAll takes the whole budget, as if exchanges held it.
func (b ReleaseBudget) TakeAll(ctx context.Context) error {
	return b.m.budget.take(ctx, time.Now(), b.m.size, false)
}

// GiveAll gives back what TakeAll took.
func (b ReleaseBudget) GiveAll() { b.m.budget.give(b.m.size, true) }

// Idle reports whether nothing of the budget is held.
func (b ReleaseBudget) Idle() bool { return b.m.budget.idle() }

// Size is the budget's bytes.
func (b ReleaseBudget) Size() int64 { return b.m.size }

// ReloadRefusal is the JSON of a refused POST /reload.
type ReloadRefusal = reloadRefusal

// ReloadErrors counts the reloads refused.
func (g *Gateway) ReloadErrors() uint64 { return g.metrics.reloadErr.Load() }

// ListenerZone is the zone the named running listener serves, "" when none runs.
func (g *Gateway) ListenerZone(name string) Zone {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rl := g.listeners[name]; rl != nil {
		return rl.cfg.Zone
	}
	return ""
}

// CaptureWhole reads what a provider's head says of its whole representation: the Repr-Digest
// sm3 member, the Content-Range, the one strong ETag.
func CaptureWhole(status int, fields ...string) (repr []byte, ranged bool, first, last, total int64, etag []byte) {
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	h.SetStatusCode(status)
	for i := 0; i+1 < len(fields); i += 2 {
		h.Add(fields[i], fields[i+1])
	}
	w := captureWhole(&h)
	return w.repr, w.ranged, w.first, w.last, w.total, w.etag
}

// PartialSpan is what partialResponse reads of a provider's head: whether it is a part,
// and the span of its Content-Range (0 none, -1 several or malformed).
func PartialSpan(status int, fields ...string) (bool, int64) {
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	h.SetStatusCode(status)
	for i := 0; i+1 < len(fields); i += 2 {
		h.Add(fields[i], fields[i+1])
	}
	return partialResponse(&h)
}
