package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// releaseMemory is the one budget of bytes that the release stage may hold to decode
// compressed responses, across every exchange at once: a small compressed body can ask
// for a great deal of memory, and eight of them at once must not be able to take the
// process down. Each exchange that decodes takes its share as it grows (releaseHold) and
// gives it back when its response has been written.
type releaseMemory struct {
	budget *byteBudget
	size   int64
	// limit is the most one response may decode to (limits.max_decompressed_bytes).
	limit int64
	wait  time.Duration

	refused atomic.Int64 // exchanges refused for want of budget

	// Decoders are reused: a gzip or deflate decoder is some 40 KiB of tables, a brotli
	// one 32 KiB of buffer.
	gzip, zlib, brotli sync.Pool
}

func newReleaseMemory(l Limits) *releaseMemory {
	return &releaseMemory{budget: newByteBudget(l.ReleaseMemory), size: l.ReleaseMemory, limit: l.MaxDecompressedBytes, wait: l.ReleaseWait}
}

// sameLimits reports whether a reload can keep this budget (and what exchanges in flight
// hold of it).
func (m *releaseMemory) sameLimits(l Limits) bool {
	return m.size == l.ReleaseMemory && m.limit == l.MaxDecompressedBytes && m.wait == l.ReleaseWait
}

// releaseFor returns the budget for a config: the running one when its limits are
// unchanged, so that a reload neither forgets what is held nor doubles the bound.
func releaseFor(l Limits, old *runtime) *releaseMemory {
	if old != nil && old.release != nil && old.release.sameLimits(l) {
		return old.release
	}
	return newReleaseMemory(l)
}

// releaseHold is one exchange's share of the budget. It is a user value of the request, so
// that fasthttp closes it — giving the share back — once the response has been written:
// until then the released body is held too.
type releaseHold struct {
	m        *releaseMemory
	ctx      context.Context
	deadline time.Time
	// held is touched only by the exchange's goroutine: the release stage, then fasthttp
	// closing the request's user values on the same connection goroutine.
	held int64
}

func (m *releaseMemory) hold(ctx context.Context) *releaseHold {
	return &releaseHold{m: m, ctx: ctx, deadline: time.Now().Add(m.wait)}
}

func errReleaseMemory() *Error {
	return Errorf(fasthttp.StatusServiceUnavailable, "release_memory_exhausted", "the gateway's memory for decoding responses (limits.release_memory) is taken by other exchanges; try again")
}

// grow takes n more bytes of the budget, waiting until the hold's deadline (one wait per
// exchange, however often it grows) when the budget is short; byteBudget serves an
// exchange that already holds some first, and refuses it rather than let every holder
// wait on the others.
func (h *releaseHold) grow(n int64) error {
	if n <= 0 {
		return nil
	}
	if h.held+n > h.m.size {
		return errReleaseMemory() // never satisfiable; validation keeps one response within the budget
	}
	if err := h.m.budget.take(h.ctx, h.deadline, n, h.held > 0); err != nil {
		h.m.refused.Add(1)
		return errReleaseMemory().WithCause(err)
	}
	h.held += n
	return nil
}

// shrink gives n bytes back early: a decoder returned to its pool, a buffer replaced.
func (h *releaseHold) shrink(n int64) {
	n = min(n, h.held)
	if n > 0 {
		h.held -= n
		h.m.budget.give(n, h.held == 0)
	}
}

// Close gives back all the hold has; closing twice gives nothing twice.
func (h *releaseHold) Close() error {
	if h != nil {
		h.shrink(h.held)
	}
	return nil
}

// validateReleaseLimits checks the limits on what release decompresses and holds: one
// response of the largest size, with its filtered copy and the largest decoder window,
// must fit in the budget, or it could never be released.
func validateReleaseLimits(l Limits, add addFunc) {
	if l.MaxDecompressedBytes < 1 {
		add("limits.max_decompressed_bytes", "must be at least 1")
	}
	if need := maxHold(l.MaxDecompressedBytes); l.MaxDecompressedBytes >= 1 && l.ReleaseMemory < need {
		add("limits.release_memory", "%d bytes cannot hold one response of limits.max_decompressed_bytes (%d): want at least %d (twice the response, for its filtered copy, and a decoder's window)", l.ReleaseMemory, l.MaxDecompressedBytes, need)
	}
	if l.ReleaseWait < 0 {
		add("limits.release_wait", "must not be negative")
	}
}
