package gateway

import (
	"testing"
	"time"
)

// TestHandshakeLogLimiterWindows: one line per key and at most max lines per window; the
// lines held back are reported once, when the next window opens.
func TestHandshakeLogLimiterWindows(t *testing.T) {
	l := &logLimiter{window: time.Minute, max: 2}
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		key        string
		at         time.Duration
		ok         bool
		heldBefore int
	}{
		{"revoked|a", 0, true, 0},
		{"revoked|a", time.Second, false, 0},
		{"revoked|b", 2 * time.Second, true, 0},
		{"protocol|10.0.0.1", 3 * time.Second, false, 0}, // past max lines
		{"revoked|a", time.Minute, true, 2},
		{"revoked|a", time.Minute + time.Second, false, 0},
	}
	for i, s := range steps {
		ok, held := l.allow(s.key, t0.Add(s.at))
		if ok != s.ok || held != s.heldBefore {
			t.Errorf("step %d (%s at %v): allowed %v, held back %d; want %v, %d", i, s.key, s.at, ok, held, s.ok, s.heldBefore)
		}
	}
}
