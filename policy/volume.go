package policy

import (
	"strconv"
	"sync"
	"time"
)

// Volumes counts what streamed transfers released per consumer and agreement in the
// Beijing day, against the agreement's rows_per_day and bytes_per_day. Like Quotas, the
// counts live in memory; the audit log keeps every transfer's exact rows and bytes.
type Volumes struct {
	mu     sync.Mutex
	counts map[quotaKey]*volumeCount
}

type volumeCount struct {
	day         int64
	rows, bytes int64
}

// NewVolumes returns empty counters.
func NewVolumes() *Volumes { return &Volumes{counts: map[quotaKey]*volumeCount{}} }

// Bounded reports whether the quota bounds volume at all.
func (q Quota) Bounded() bool { return q.RowsPerDay > 0 || q.BytesPerDay > 0 }

// Add counts rows and bytes released at now, unless that would take the day's volume past
// the quota: then it counts nothing and returns the reason, and the caller releases none
// of them. Adding nothing checks whether the day's volume is already used up.
func (v *Volumes) Add(consumer, agreement string, q Quota, now time.Time, rows, bytes int64) (Reason, bool) {
	if !q.Bounded() {
		return Reason{}, true
	}
	day, _ := windowNumbers(now)
	v.mu.Lock()
	defer v.mu.Unlock()
	k := quotaKey{consumer, agreement}
	c := v.counts[k]
	if c == nil || c.day < day {
		c = &volumeCount{day: day}
		v.counts[k] = c
	}
	full := func(used, add, limit int64) bool { return limit > 0 && (used+add > limit || add == 0 && used >= limit) }
	if full(c.rows, rows, int64(q.RowsPerDay)) {
		return Reason{Code: "VOLUME_EXCEEDED", Message: "agreement " + agreement + " allows " + strconv.Itoa(q.RowsPerDay) + " rows a day; today's are used up (the day resets at 00:00 Beijing time)"}, false
	}
	if full(c.bytes, bytes, int64(q.BytesPerDay)) {
		return Reason{Code: "VOLUME_EXCEEDED", Message: "agreement " + agreement + " allows " + strconv.Itoa(q.BytesPerDay) + " bytes a day; today's are used up (the day resets at 00:00 Beijing time)"}, false
	}
	c.rows += rows
	c.bytes += bytes
	return Reason{}, true
}
