package policy

import (
	"context"
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
	day, minute windows
}

// windows are the counts of the current window and the one before it. Exchanges are
// decided out of the order they started in (a burst across a minute or a Beijing
// midnight), so a late one from the window before is counted in its own window — not
// allowed to reset the current one, nor to escape its own.
type windows [2]window // current, previous

type window struct {
	n     int64 // the window's number
	count int
}

// at returns the count of window n, moving forward when n is newer. A window older than
// the previous one is counted in the previous one: stricter, never looser.
func (w *windows) at(n int64) *window {
	cur, prev := &w[0], &w[1]
	switch {
	case n > cur.n:
		if n == cur.n+1 {
			*prev = *cur
		} else {
			*prev = window{n: n - 1}
		}
		*cur = window{n: n}
		return cur
	case n == cur.n:
		return cur
	default:
		return prev
	}
}

// windowNumbers numbers the Beijing day and the minute of t. Days are numbered
// contiguously, so that the day after is always day+1 (windows.at), across months and years.
func windowNumbers(t time.Time) (day, minute int64) {
	_, offset := t.In(beijing).Zone()
	return (t.Unix() + int64(offset)) / 86400, t.Unix() / 60
}

// NewQuotas returns empty counters.
func NewQuotas() *Quotas { return &Quotas{counts: map[quotaKey]*quotaCount{}} }

// Take counts one request by consumer under agreement at now, unless that would exceed the
// quota; then it counts nothing and returns the reason.
func (q *Quotas) Take(consumer, agreement string, quota Quota, now time.Time) (Reason, bool) {
	r, _, ok := q.TakeOrWait(consumer, agreement, quota, now)
	return r, ok
}

// TakeOrWait is Take that also says, when the quota is used up, how long until the window
// that is full ends (a Beijing day at 00:00, or the minute): the caller's Retry-After.
func (q *Quotas) TakeOrWait(consumer, agreement string, quota Quota, now time.Time) (Reason, time.Duration, bool) {
	if quota.PerDay == 0 && quota.PerMinute == 0 {
		return Reason{}, 0, true
	}
	day, minute := windowNumbers(now)

	q.mu.Lock()
	defer q.mu.Unlock()
	k := quotaKey{consumer, agreement}
	c := q.counts[k]
	if c == nil {
		c = &quotaCount{}
		q.counts[k] = c
	}
	perDay, perMinute := c.day.at(day), c.minute.at(minute)
	if quota.PerDay > 0 && perDay.count >= quota.PerDay {
		r, wait := DayQuotaExceeded(agreement, quota, now)
		return r, wait, false
	}
	if quota.PerMinute > 0 && perMinute.count >= quota.PerMinute {
		r, wait := MinuteQuotaExceeded(agreement, quota, now)
		return r, wait, false
	}
	perDay.count++
	perMinute.count++
	return Reason{}, 0, true
}

// DayQuotaExceeded is the reason and Retry-After of a request at now refused because the
// agreement's daily quota is used up: the wait ends at 00:00 Beijing time.
func DayQuotaExceeded(agreement string, quota Quota, now time.Time) (Reason, time.Duration) {
	day, _ := QuotaWindows(now)
	_, offset := now.In(beijing).Zone()
	end := time.Unix((day+1)*86400-int64(offset), 0)
	return Reason{Code: "QUOTA_EXCEEDED", Message: "agreement " + agreement + " allows " + itoa(quota.PerDay) + " requests a day; today's are used up (the day resets at 00:00 Beijing time)"}, end.Sub(now)
}

// MinuteQuotaExceeded is DayQuotaExceeded for the per-minute quota.
func MinuteQuotaExceeded(agreement string, quota Quota, now time.Time) (Reason, time.Duration) {
	_, minute := QuotaWindows(now)
	end := time.Unix((minute+1)*60, 0)
	return Reason{Code: "QUOTA_EXCEEDED", Message: "agreement " + agreement + " allows " + itoa(quota.PerMinute) + " requests a minute; wait for the next minute"}, end.Sub(now)
}

// QuotaWindows numbers the Beijing day and the clock minute of t, as Quotas counts them:
// a store shared by a fleet names its counters by these numbers.
func QuotaWindows(t time.Time) (day, minute int64) { return windowNumbers(t) }

// QuotaUse is one request counted against an agreement's quota: by consumer (the
// department), under agreement, at the exchange's start.
type QuotaUse struct {
	Consumer  string
	Agreement string
	Quota     Quota
	At        time.Time
}

// QuotaVerdict is what counting a use decided: allowed, or the reason and Retry-After.
type QuotaVerdict struct {
	Allowed    bool
	Reason     Reason
	RetryAfter time.Duration
}

// QuotaStore counts uses against quotas. CountUse counts one use unless that would exceed
// the quota; ReturnUse gives back one CountUse allowed (GiveBack's rules). An error means
// the store could not answer: the caller refuses rather than admit an uncounted request.
// Quotas is the in-process store; a store shared by a fleet (Redis) implements the same.
type QuotaStore interface {
	CountUse(ctx context.Context, u QuotaUse) (QuotaVerdict, error)
	ReturnUse(ctx context.Context, u QuotaUse) error
}

// CountUse implements QuotaStore in memory; it never fails.
func (q *Quotas) CountUse(_ context.Context, u QuotaUse) (QuotaVerdict, error) {
	r, wait, ok := q.TakeOrWait(u.Consumer, u.Agreement, u.Quota, u.At)
	return QuotaVerdict{Allowed: ok, Reason: r, RetryAfter: wait}, nil
}

// ReturnUse implements QuotaStore in memory; it never fails.
func (q *Quotas) ReturnUse(_ context.Context, u QuotaUse) error {
	q.GiveBack(u.Consumer, u.Agreement, u.Quota, u.At)
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
