package gateway

import (
	"context"
	"errors"
	"sync"
	"time"
)

// byteBudget is a weighted semaphore over bytes that exchanges take as they grow. A plain
// FIFO semaphore deadlocks here: exchanges that already hold part of the budget and wait
// for more can wait on one another until every one times out. So:
//   - an exchange that holds nothing yet (a newcomer) waits in arrival order, behind
//     every waiting exchange;
//   - one that holds some and needs more (a grower) is served first, as soon as what it
//     asks for is free: it is the closest to finishing and giving everything back;
//   - when every holder would be waiting to grow, none can ever be served: the one that
//     would close the circle is refused at once, and gives its share to the others.
//
// Every exchange's largest claim fits in the budget (validateReleaseLimits), so an
// exchange alone always finishes.
type byteBudget struct {
	mu      sync.Mutex
	size    int64
	free    int64
	holders int // exchanges holding some of the budget
	waiting []*budgetWaiter
}

type budgetWaiter struct {
	n       int64
	growing bool
	done    chan error // buffered: nil when granted, errBudgetCircle when refused
}

var errBudgetCircle = errors.New("every exchange holding release memory is waiting for more")

func newByteBudget(size int64) *byteBudget {
	return &byteBudget{size: size, free: size}
}

// take takes n bytes, waiting until deadline or ctx when they are not free. growing says
// the caller already holds some.
func (b *byteBudget) take(ctx context.Context, deadline time.Time, n int64, growing bool) error {
	b.mu.Lock()
	if b.free >= n && (growing || len(b.waiting) == 0) {
		b.grantLocked(n, growing)
		b.mu.Unlock()
		return nil
	}
	if growing && b.waitingGrowers()+1 >= b.holders {
		b.mu.Unlock()
		return errBudgetCircle
	}
	w := &budgetWaiter{n: n, growing: growing, done: make(chan error, 1)}
	b.waiting = append(b.waiting, w)
	b.mu.Unlock()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var err error
	select {
	case err = <-w.done:
		return err
	case <-timer.C:
		err = context.DeadlineExceeded
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.removeLocked(w) {
		b.dispatchLocked() // a newcomer behind this one may fit now
		return err
	}
	// Served or refused while timing out: a grant is given back.
	if <-w.done == nil {
		b.free += n
		if !growing {
			b.holders--
		}
		b.dispatchLocked()
	}
	return err
}

// give returns n bytes; last says the caller now holds nothing.
func (b *byteBudget) give(n int64, last bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	if last {
		b.holders--
	}
	b.dispatchLocked()
}

func (b *byteBudget) grantLocked(n int64, growing bool) {
	b.free -= n
	if !growing {
		b.holders++
	}
}

// dispatchLocked serves growers that fit, then newcomers in order while they fit, then
// breaks a circle of growers that nothing can serve.
func (b *byteBudget) dispatchLocked() {
	kept := b.waiting[:0]
	for _, w := range b.waiting {
		if w.growing && b.free >= w.n {
			b.grantLocked(w.n, true)
			w.done <- nil
			continue
		}
		kept = append(kept, w)
	}
	b.waiting = kept
	for len(b.waiting) > 0 {
		i := b.firstNewcomer()
		if i < 0 || b.waiting[i].n > b.free {
			break
		}
		w := b.waiting[i]
		b.grantLocked(w.n, false)
		b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
		w.done <- nil
	}
	if g := b.waitingGrowers(); g > 0 && g >= b.holders {
		for i, w := range b.waiting {
			if w.growing {
				b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
				w.done <- errBudgetCircle
				break
			}
		}
	}
}

func (b *byteBudget) removeLocked(w *budgetWaiter) bool {
	for i, x := range b.waiting {
		if x == w {
			b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
			return true
		}
	}
	return false
}

func (b *byteBudget) waitingGrowers() int {
	n := 0
	for _, w := range b.waiting {
		if w.growing {
			n++
		}
	}
	return n
}

func (b *byteBudget) firstNewcomer() int {
	for i, w := range b.waiting {
		if !w.growing {
			return i
		}
	}
	return -1
}

// idle reports whether nothing is held or awaited.
func (b *byteBudget) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free == b.size && b.holders == 0 && len(b.waiting) == 0
}

// held is the number of bytes taken.
func (b *byteBudget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.free
}
