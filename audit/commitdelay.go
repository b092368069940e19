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

// probeEvery is how often a batch of two or more is held although recent holds gained
// little (holdYield below minHoldYield): appenders in lockstep — each waiting for its commit
// before its next record, all in one batch — pay one fruitless delay per probe, not one a
// batch, and a load that has changed is held for again within a few probes.
const probeEvery = 100 * time.Millisecond

// yieldWeight is how much each hold moves holdYield, the running share of holds that
// gained a record, and minHoldYield the share under which batches are held only as
// probes: from a yield of one, five fruitless holds in a row stop the holds, while an
// open loop at about one expected arrival per delay, whose holds gain a record half the
// time or more (a Poisson stream of appends at 4,650/s and 300µs: 0.45 under a
// threshold of a half, which stopped most holds; 0.89 under this one), keeps holding.
const (
	yieldWeight  = 0.25
	minHoldYield = 0.25
)

// holdOpen is the commit delay (Options.CommitDelay): a batch smaller than heldBatch (and
// MaxBatch) waits up to the delay for more records before it is written — fewer syncs,
// each shared by more records, when the load is moderate — if more are likely to come:
//   - records arrived at least one per delay before this batch (arrivalRate): the batch's
//     own records are no evidence that more are coming (at a delay of rateWindow or more,
//     one record alone would "expect" the next), so a quiet log, with a record or a pair
//     now and then, never waits;
//   - and other appenders are at work: the last commit was a hold that gained a record,
//     or the batch holds two records or more and a quarter or more of the recent holds
//     gained one (holdYield), or no batch was held for probeEvery. An appender alone,
//     however fast it appends, waits for its own commit before its next record, so holding its
//     batch would gain nothing: its first fruitless hold is its last; k appenders in
//     lockstep are the same with a batch of k, and stop being held after five.
//
// Close ends a hold at once; what was held is committed as any batch.
func (l *Log) holdOpen(batch []*appendReq, hold *time.Timer) []*appendReq {
	d := l.opts.CommitDelay
	if d <= 0 {
		return batch
	}
	now := time.Now()
	past := l.arrivals.with(0, now)
	defer func() { l.arrivals = past.with(len(batch), now) }()
	if !l.worthHolding(len(batch), past, now) {
		l.holdPaid = false
		return batch
	}
	l.held.Add(1)
	before := len(batch)
	defer func() {
		l.holdPaid = len(batch) > before
		gained := 0.0
		if l.holdPaid {
			gained = 1
		}
		l.holdYield += yieldWeight * (gained - l.holdYield)
		l.heldAt = now
	}()
	hold.Reset(d)
	defer hold.Stop()
	for len(batch) < min(heldBatch, l.opts.MaxBatch) {
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

// worthHolding reports whether a batch of n, at the past arrival rate, is held open
// (holdOpen says when).
func (l *Log) worthHolding(n int, past arrivalRate, now time.Time) bool {
	switch {
	case n >= min(heldBatch, l.opts.MaxBatch) || !past.expects(l.opts.CommitDelay):
		return false
	case l.holdPaid:
		return true
	case n < 2:
		return false
	}
	return l.holdYield >= minHoldYield || now.Sub(l.heldAt) >= probeEvery
}
