package policy

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Volumes counts what streamed transfers released per consumer and agreement in the
// Beijing day, against the agreement's rows_per_day and bytes_per_day. Like Quotas, the
// counts live in memory (one gateway's; sharedstate.VolumeStore is the fleet's); the audit
// log keeps every transfer's exact rows and bytes.
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
		return VolumeExceeded(agreement, q, true), false
	}
	if full(c.bytes, bytes, int64(q.BytesPerDay)) {
		return VolumeExceeded(agreement, q, false), false
	}
	c.rows += rows
	c.bytes += bytes
	return Reason{}, true
}

// VolumeUse is one window of a streamed transfer counted against an agreement's daily
// volume: by consumer (the department), under agreement, at the moment the window is
// released. Rows and Bytes 0 asks whether the day's volume is already used up.
type VolumeUse struct {
	Consumer    string
	Agreement   string
	Quota       Quota
	At          time.Time
	Rows, Bytes int64
}

// VolumeVerdict is what counting a window decided: allowed (counted), or the reason the
// window is withheld (nothing counted).
type VolumeVerdict struct {
	Allowed bool
	Reason  Reason
}

// VolumeStore counts released windows against the day's volume, as Add does: a window
// that would take the day past the quota is counted nowhere and refused. An error means
// the store could not answer: the caller withholds the window (refuses or cuts the
// transfer) rather than release rows nobody counted. Volumes is the in-process store; a
// store shared by a fleet (Redis) implements the same, as QuotaStore for requests.
type VolumeStore interface {
	AddVolume(ctx context.Context, u VolumeUse) (VolumeVerdict, error)
}

// AddVolume implements VolumeStore in memory; it never fails.
func (v *Volumes) AddVolume(_ context.Context, u VolumeUse) (VolumeVerdict, error) {
	r, ok := v.Add(u.Consumer, u.Agreement, u.Quota, u.At, u.Rows, u.Bytes)
	return VolumeVerdict{Allowed: ok, Reason: r}, nil
}

// VolumeExceeded is the reason a window is withheld because it would take the day's rows
// (rows true) or bytes past the agreement's volume: the one message Volumes and a shared
// store give.
func VolumeExceeded(agreement string, q Quota, rows bool) Reason {
	if rows {
		return Reason{Code: "VOLUME_EXCEEDED", Message: "agreement " + agreement + " allows " + strconv.Itoa(q.RowsPerDay) + " rows a day; today's are used up (the day resets at 00:00 Beijing time)"}
	}
	return Reason{Code: "VOLUME_EXCEEDED", Message: "agreement " + agreement + " allows " + strconv.Itoa(q.BytesPerDay) + " bytes a day; today's are used up (the day resets at 00:00 Beijing time)"}
}
