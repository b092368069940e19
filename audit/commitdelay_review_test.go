package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// busy stages an arrival estimate as if records had been arriving without end until now:
// at 1e300 a second it outlasts seconds of a loaded machine before the first batch comes,
// so a test can ask for a hold without a race against the estimate's decay. It is set
// before any append: the writer reads it after it receives the first request.
func busy(l *Log) { l.arrivals = arrivalRate{at: time.Now(), perSecond: 1e300} }

// drain waits for n answers and fails on any refusal.
func drain(t *testing.T, errs <-chan error, n int) {
	t.Helper()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommitDelayLockstepAppendersAreNotHeldForNothing: two exchanges that append
// together, each waiting for its commit before its next record (two departments calling
// in step), make a batch of two every time. Once holds of such batches have gained nothing
// five times in a row (holdYield under a quarter), they must not be held again but for a
// probe every probeEvery: nobody else is appending, and a hold per batch would cost every
// exchange the whole delay for nothing.
func TestCommitDelayLockstepAppendersAreNotHeldForNothing(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: 20 * time.Millisecond})
	defer l.Close()
	busy(l)
	const rounds = 40
	start := time.Now()
	for i := range rounds {
		busy(l) // the rate rule alone must not be what stops the holds
		drain(t, queueWhileWriterHeld(t, l, 2, 10*i), 2)
	}
	probes := int(time.Since(start)/probeEvery) + 1
	if s := l.Stats(); s.Held > uint64(5+probes) || s.Size != 2*rounds {
		t.Fatalf("%d lockstep batches of two held %d times (size %d): want at most the first five, fruitless, holds and %d probes", rounds, s.Held, s.Size, probes)
	}
}

// TestCommitDelayQuietLogIsNotHeld: at the largest commit delay the config allows
// (10ms, rateWindow), records that come now and then are not held — neither a pair after a
// quiet spell (the log just opened) nor a lone record after a quiet hour that follows a
// hold that paid. The batch's own records are no evidence that more are coming.
func TestCommitDelayQuietLogIsNotHeld(t *testing.T) {
	const delay = 10 * time.Millisecond
	t.Run("pair after quiet", func(t *testing.T) {
		l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: delay})
		defer l.Close()
		drain(t, queueWhileWriterHeld(t, l, 2, 0), 2)
		if s := l.Stats(); s.Held != 0 || s.Size != 2 {
			t.Fatalf("a pair on a quiet log: held %d, size %d; want no hold, 2 records", s.Held, s.Size)
		}
	})
	t.Run("lone record after paid hold and quiet hour", func(t *testing.T) {
		l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: delay})
		defer l.Close()
		l.holdPaid = true // the last hold, an hour ago, gained a record
		l.arrivals = arrivalRate{at: time.Now().Add(-time.Hour), perSecond: 1e6}
		if _, err := l.Append(context.Background(), testRecord(0)); err != nil {
			t.Fatal(err)
		}
		if s := l.Stats(); s.Held != 0 {
			t.Fatalf("a lone record after a quiet hour was held %d times", s.Held)
		}
	})
}

// TestCommitDelayMaxBatchBelowHeldBatch: with MaxBatch smaller than heldBatch, a batch
// already at MaxBatch cannot take another record, so it is not held — nor counted as
// held (govgate_audit_commits_held_total would report holds that never waited).
func TestCommitDelayMaxBatchBelowHeldBatch(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: time.Hour, MaxBatch: 2})
	defer l.Close()
	busy(l)
	drain(t, queueWhileWriterHeld(t, l, 2, 0), 2)
	if s := l.Stats(); s.Held != 0 || s.Size != 2 {
		t.Fatalf("a full batch of MaxBatch 2: held %d, size %d; want no hold, 2 records", s.Held, s.Size)
	}
}

// TestCommitDelayHeldBatchWithFailedSyncIsRefusedWhole: a held batch — the records it
// was gathered with and those that joined during the hold — whose fdatasync fails is
// refused whole: none is answered as durable, none is in the log. /dev/null stands for a
// disk whose writes succeed and whose fdatasync fails (failedsync_test.go).
func TestCommitDelayHeldBatchWithFailedSyncIsRefusedWhole(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: time.Hour})
	defer l.Close()
	if _, err := l.Append(context.Background(), testRecord(0)); err != nil {
		t.Fatal(err)
	}
	restore := failSyncs(t, l)
	busy(l)
	first := queueWhileWriterHeld(t, l, 2, 10)
	waitHeld(t, l, 1, "the batch")
	late := make(chan error, heldBatch)
	for i := range heldBatch - 2 { // fill the held batch: it is written without the hour
		go func() {
			_, err := l.Append(context.Background(), testRecord(100+i))
			late <- err
		}()
	}
	for _, errs := range []struct {
		c <-chan error
		n int
	}{{first, 2}, {late, heldBatch - 2}} {
		for range errs.n {
			if err := <-errs.c; err == nil || !strings.Contains(err.Error(), "fdatasync") {
				t.Fatalf("a record of the held batch whose sync failed: %v; want refused for the sync", err)
			}
		}
	}
	if s := l.Stats(); s.Size != 1 || s.Failed != heldBatch || s.Held != 1 {
		t.Fatalf("size %d, failed %d, held %d; want 1, %d, 1", s.Size, s.Failed, s.Held, heldBatch)
	}
	restore()
	// The last hold paid, so the next record is held too: Close ends that hold, and the
	// record is accepted at the index the refused batch would have taken.
	next := make(chan error, 1)
	go func() {
		_, err := l.Append(context.Background(), testRecord(500))
		next <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); l.Stats().Held < 2 && len(next) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the append after the failed held batch was neither held nor answered")
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-next; err != nil {
		t.Fatalf("the append after the failed held batch: %v", err)
	}
	if l.Size() != 2 {
		t.Fatalf("size %d after the next append, want 2", l.Size())
	}
}

// TestArrivalRateNumericEdges: records that come at the same instant add up (no division
// by a zero gap), a gap of years decays the estimate to nothing (no NaN nor Inf that
// would hold every batch or none), and the zero value expects nothing.
func TestArrivalRateNumericEdges(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var zero arrivalRate
	if zero.expects(time.Hour) {
		t.Fatal("no record yet, and one is expected")
	}
	same := zero.with(3, t0).with(2, t0)
	if want := 5 / rateWindow.Seconds(); same.perSecond != want {
		t.Fatalf("5 records at one instant: %.0f/s, want %.0f/s", same.perSecond, want)
	}
	late := arrivalRate{at: t0, perSecond: 1e300}.with(0, t0.Add(10*365*24*time.Hour))
	if late.perSecond != 0 || late.expects(time.Hour) {
		t.Fatalf("ten quiet years after 1e300/s: %v/s, expects %v", late.perSecond, late.expects(time.Hour))
	}
}

// TestCommitDelayKeepsHoldingWhenMostHoldsPay: at a moderate open-loop load a hold gains
// a record most of the time, not every time (at one expected arrival per delay, about a
// quarter of holds gain nothing). A fruitless hold now and then must not stop the holds
// that pay: here three holds in four gain a record, and every batch of two is held.
func TestCommitDelayKeepsHoldingWhenMostHoldsPay(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{CheckpointInterval: time.Hour, CommitDelay: 50 * time.Millisecond})
	defer l.Close()
	const rounds = 12
	for i := range rounds {
		busy(l)
		held := l.Stats().Held
		errs := queueWhileWriterHeld(t, l, 2, 10*i)
		if i%4 == 3 { // fruitless: nothing joins
			drain(t, errs, 2)
			continue
		}
		waitHeld(t, l, held+1, fmt.Sprintf("round %d (3 in 4 of the holds before it paying): the batch of two", i))
		late := make(chan error, 1)
		go func() {
			_, err := l.Append(context.Background(), testRecord(10*i+5))
			late <- err
		}()
		drain(t, errs, 2)
		drain(t, late, 1)
	}
	if s := l.Stats(); s.Held != rounds {
		t.Fatalf("held %d of %d batches", s.Held, rounds)
	}
}
