package policy

import (
	"strconv"
	"sync"
	"time"
)

// beijing is the time zone in which an agreement's daily quota resets: the day of the
// departments that signed it, not of the machine.
var beijing = time.FixedZone("CST", 8*60*60)

// Quotas counts requests per consumer and agreement against the agreements' quotas, in
// fixed windows: the calendar day in Beijing time and the clock minute. Counts live in
// memory, so a restart starts them again; an agreement's quota is a ceiling the providers
// also enforce, and the audit log keeps the exact count.
type Quotas struct {
	mu     sync.Mutex
	counts map[quotaKey]*quotaCount
}

type quotaKey struct{ consumer, agreement string }

type quotaCount struct {
	day, minute       int64 // window numbers
	perDay, perMinute int
}

// NewQuotas returns empty counters.
func NewQuotas() *Quotas { return &Quotas{counts: map[quotaKey]*quotaCount{}} }

// Take counts one request by consumer under agreement at now, unless that would exceed the
// quota; then it counts nothing and returns the reason.
func (q *Quotas) Take(consumer, agreement string, quota Quota, now time.Time) (Reason, bool) {
	if quota.PerDay == 0 && quota.PerMinute == 0 {
		return Reason{}, true
	}
	local := now.In(beijing)
	y, m, d := local.Date()
	day := int64(y)*10000 + int64(m)*100 + int64(d)
	minute := now.Unix() / 60

	q.mu.Lock()
	defer q.mu.Unlock()
	k := quotaKey{consumer, agreement}
	c := q.counts[k]
	if c == nil {
		c = &quotaCount{}
		q.counts[k] = c
	}
	if c.day != day {
		c.day, c.perDay = day, 0
	}
	if c.minute != minute {
		c.minute, c.perMinute = minute, 0
	}
	if quota.PerDay > 0 && c.perDay >= quota.PerDay {
		return Reason{Code: "QUOTA_EXCEEDED", Message: "agreement " + agreement + " allows " + itoa(quota.PerDay) + " requests a day; today's are used up (the day resets at 00:00 Beijing time)"}, false
	}
	if quota.PerMinute > 0 && c.perMinute >= quota.PerMinute {
		return Reason{Code: "QUOTA_EXCEEDED", Message: "agreement " + agreement + " allows " + itoa(quota.PerMinute) + " requests a minute; wait for the next minute"}, false
	}
	c.perDay++
	c.perMinute++
	return Reason{}, true
}

func itoa(n int) string { return strconv.Itoa(n) }
