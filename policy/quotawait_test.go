package policy

import (
	"testing"
	"time"
)

// TestQuotaWaitIsUntilTheFullWindowEnds: a used-up day waits until 00:00 Beijing time, a
// used-up minute until the next minute; a request within the quota has no wait, and one
// refused is not counted.
func TestQuotaWaitIsUntilTheFullWindowEnds(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	q := NewQuotas()
	now := time.Date(2026, 12, 2, 23, 59, 30, 0, cst)
	if _, wait, ok := q.TakeOrWait("a", "AGR-1", Quota{PerDay: 1}, now); !ok || wait != 0 {
		t.Fatalf("within the quota: %v %v", ok, wait)
	}
	for range 2 {
		if r, wait, ok := q.TakeOrWait("a", "AGR-1", Quota{PerDay: 1}, now); ok || r.Code != "QUOTA_EXCEEDED" || wait != 30*time.Second {
			t.Errorf("day used up at 23:59:30 Beijing: %v %v %v", ok, r, wait)
		}
	}
	// In UTC the same instant waits as long: the day is Beijing's.
	if _, wait, _ := q.TakeOrWait("a", "AGR-1", Quota{PerDay: 1}, now.UTC()); wait != 30*time.Second {
		t.Errorf("the same instant in UTC: %v", wait)
	}
	// The next Beijing day: allowed again.
	if _, _, ok := q.TakeOrWait("a", "AGR-1", Quota{PerDay: 1}, now.Add(31*time.Second)); !ok {
		t.Error("refused on the next day")
	}
	m := time.Date(2026, 12, 2, 10, 20, 10, 500_000_000, cst)
	q.TakeOrWait("b", "AGR-2", Quota{PerMinute: 1}, m)
	if _, wait, ok := q.TakeOrWait("b", "AGR-2", Quota{PerMinute: 1}, m); ok || wait != 49500*time.Millisecond {
		t.Errorf("minute used up at :10.5: %v %v", ok, wait)
	}
}
