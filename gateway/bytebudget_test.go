package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestByteBudgetNoCircularWait: exchanges that each grow to more than the budget can give
// all of them at once never wait on one another until they time out: a grower is served
// first, and the one that would close a circle of waiting holders is refused at once.
// The budget is never overdrawn and is whole again at the end.
func TestByteBudgetNoCircularWait(t *testing.T) {
	const size, workers, rounds = 100, 8, 50
	b := newByteBudget(size)
	var served, refused atomic.Int64
	var overdrawn atomic.Bool
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				held := int64(0)
				deadline := time.Now().Add(10 * time.Second)
				ok := true
				for _, step := range []int64{10, 10, 20, 20} { // 60 each: two at most fit
					if err := b.take(context.Background(), deadline, step, held > 0); err != nil {
						ok = false
						break
					}
					held += step
					time.Sleep(200 * time.Microsecond) // decoding, while others grow too
					b.mu.Lock()
					overdrawn.Store(overdrawn.Load() || b.free < 0)
					b.mu.Unlock()
				}
				if ok {
					served.Add(1)
				} else {
					refused.Add(1)
				}
				if held > 0 {
					b.give(held, true)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d served, %d refused in %s", served.Load(), refused.Load(), elapsed)
	if elapsed > 5*time.Second {
		t.Errorf("took %s: exchanges waited on one another", elapsed)
	}
	if served.Load() == 0 || overdrawn.Load() || !b.idle() {
		t.Errorf("served %d, overdrawn %v, idle %v", served.Load(), overdrawn.Load(), b.idle())
	}
}

// TestByteBudgetWaitsThenTimesOut: a newcomer waits for bytes another exchange holds and is
// served when they are given back; one that waits past its deadline is refused, and a
// canceled one stops at once.
func TestByteBudgetWaitsThenTimesOut(t *testing.T) {
	b := newByteBudget(10)
	if err := b.take(context.Background(), time.Now(), 10, false); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(20 * time.Millisecond); b.give(10, true) }()
	if err := b.take(context.Background(), time.Now().Add(5*time.Second), 5, false); err != nil {
		t.Fatalf("waiting newcomer: %v", err)
	}
	if err := b.take(context.Background(), time.Now().Add(20*time.Millisecond), 6, false); err == nil {
		t.Fatal("over budget: served")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.take(ctx, time.Now().Add(time.Hour), 6, false); err == nil {
		t.Fatal("canceled: served")
	}
	b.give(5, true)
	if !b.idle() {
		t.Error("not idle")
	}
}
