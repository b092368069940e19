package policy

import (
	"testing"
	"time"
)

// TestAttack2QuotaWindowGoesBackwards: Quotas.Take keys each window by the exchange's
// start time (x.Start) and keeps ONE window per (consumer, agreement): a Take whose time
// falls in an earlier minute than the window held resets it to that minute with a zero
// count, and the next Take in the later minute resets it again. Exchanges reach Decide
// in a different order than they started whenever they run concurrently (authentication,
// signature verification and the replay store take varying time), so a department that
// sends a burst straddling a minute (or a Beijing midnight, for per_day) gets its counter
// zeroed on every flip: per_minute: 2 admits 3 exchanges started in one minute and 3 in
// the next, here, and a large burst admits far more.
//
// Impact (medium): the agreement's quota — the rate a sharing agreement grants, enforced
// nowhere else — is evaded by timing requests around the window boundary. Fix direction:
// never move a window backwards (count a late exchange in the current window, or keep a
// counter per window).
func TestAttack2QuotaWindowGoesBackwards(t *testing.T) {
	q := NewQuotas()
	quota := Quota{PerMinute: 2}
	boundary := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	early, late := boundary.Add(-50*time.Millisecond), boundary.Add(10*time.Millisecond)
	// Started before the boundary: decided in order.
	// Then one started after it is decided, then one started earlier but decided later,
	// then more after the boundary.
	order := []time.Time{early, early, late, early.Add(time.Millisecond), late, late}
	perMinute := map[int64]int{}
	for _, at := range order {
		if _, ok := q.Take("110000-rensheju", "AGR-T-0001", quota, at); ok {
			perMinute[at.Unix()/60]++
		}
	}
	for minute, n := range perMinute {
		if n > quota.PerMinute {
			t.Errorf("minute %s: %d exchanges admitted under per_minute %d", time.Unix(minute*60, 0).UTC().Format(time.RFC3339), n, quota.PerMinute)
		}
	}
}
