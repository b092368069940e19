package audit

import (
	"math"
	"time"
)

// heldBatch is the batch size at which the writer stops holding a batch open: past it a
// sync's fixed cost is a small share of each record's (loadtest/bench's saturated audit row
// commits about 14 records a sync), so a longer wait would only add latency.
const heldBatch = 16

// rateWindow is how far back the arrival rate looks, roughly: long enough to smooth the
// gaps between a few commits, short enough that the first record after a quiet spell is
// not held on the strength of a burst that is over.
const rateWindow = 10 * time.Millisecond

// arrivalRate is the writer's estimate of how many records arrive per second: each record
// adds 1/rateWindow, and the sum decays by e every rateWindow. It is an exponentially
// weighted count, so a burst's estimate fades within a few windows.
type arrivalRate struct {
	at        time.Time
	perSecond float64
}

// with is the estimate after n more records arrived by now.
func (a arrivalRate) with(n int, now time.Time) arrivalRate {
	gap := now.Sub(a.at).Seconds()
	if a.at.IsZero() || gap <= 0 {
		return arrivalRate{at: now, perSecond: a.perSecond + float64(n)/rateWindow.Seconds()}
	}
	decay := math.Exp(-gap / rateWindow.Seconds())
	return arrivalRate{at: now, perSecond: a.perSecond*decay + float64(n)/rateWindow.Seconds()}
}

// expects reports whether at least one more record is expected within d at this rate.
func (a arrivalRate) expects(d time.Duration) bool { return a.perSecond*d.Seconds() >= 1 }

// holdOpen is the commit delay (Options.CommitDelay): a batch smaller than heldBatch waits
// up to the delay for more records before it is written — fewer syncs, each shared by
// more records, when the load is moderate — if more are likely to come:
//   - records arrive at least one per delay (arrivalRate), so a quiet log, with a record
//     now and then, never waits;
//   - and other appenders are at work: the batch holds two records or more, or the last
//     hold gained one. An appender alone, however fast it appends, waits for its own
//     commit before its next record, so holding its batch would gain nothing: its first
//     fruitless hold is its last.
//
// Close ends a hold at once; what was held is committed as any batch.
func (l *Log) holdOpen(batch []*appendReq, hold *time.Timer) []*appendReq {
	d := l.opts.CommitDelay
	if d <= 0 {
		return batch
	}
	now := time.Now()
	rate := l.arrivals.with(len(batch), now)
	defer func() { l.arrivals = l.arrivals.with(len(batch), now) }()
	if len(batch) >= heldBatch || !rate.expects(d) || len(batch) < 2 && !l.holdPaid {
		return batch
	}
	l.held.Add(1)
	before := len(batch)
	defer func() { l.holdPaid = len(batch) > before }()
	hold.Reset(d)
	defer hold.Stop()
	for len(batch) < heldBatch && len(batch) < l.opts.MaxBatch {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		case <-hold.C:
			return batch
		case <-l.stop:
			return batch
		}
	}
	return batch
}
