package policy

import "time"

// GiveBack returns one request that Take counted for consumer under agreement at the same
// quota and the same time at, when the exchange it admitted never reached a provider (the
// gateway calls it only when nothing was written to one: no healthy member, the connection
// refused, the pool busy, a request refused as unforwardable). It gives back only in the
// window numbered exactly as at's — the current one or the one kept before it — and only
// while its count is above zero. A window older than both was counted by Take in the
// previous window, which may since have moved: that count is kept (stricter, never
// looser). GiveBack never moves a window, so it is safe beside concurrent Takes under the
// same lock.
func (q *Quotas) GiveBack(consumer, agreement string, quota Quota, at time.Time) {
	if quota.PerDay == 0 && quota.PerMinute == 0 {
		return
	}
	day, minute := windowNumbers(at) // numbered as Take numbers them

	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.counts[quotaKey{consumer, agreement}]
	if c == nil {
		return
	}
	c.day.giveBack(day)
	c.minute.giveBack(minute)
}

// giveBack takes one from the count of window n, if it is still kept and counted.
func (w *windows) giveBack(n int64) {
	for i := range w {
		if w[i].n == n && w[i].count > 0 {
			w[i].count--
			return
		}
	}
}
