package keys

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Watcher polls a store for new versions of one key and hands each to Apply, which checks
// it and swaps it in, or refuses it (the running version then stays). While the store
// cannot be reached it backs off, doubling the interval up to MaxInterval, and keeps the
// last good version; Err says why it is stale.
type Watcher struct {
	Store       Store
	Name        string
	Interval    time.Duration
	MaxInterval time.Duration
	Apply       func(*Version) error
	Logger      *slog.Logger

	mu      sync.Mutex
	current int // the version in use
	seen    int // the newest version tried, applied or refused
	err     error
}

// Start applies the latest version now (an error is returned: a gateway does not start
// without a key it needs) and then polls until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.MaxInterval == 0 {
		w.MaxInterval = time.Minute
	}
	v, err := w.Store.Latest(ctx, w.Name)
	if err != nil {
		return err
	}
	if err := w.Apply(v); err != nil {
		return err
	}
	w.current, w.seen = v.Number, v.Number
	go w.loop(ctx)
	return nil
}

func (w *Watcher) loop(ctx context.Context) {
	wait := w.Interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := w.poll(ctx); err != nil {
			wait = min(2*wait, w.MaxInterval)
			continue
		}
		wait = w.Interval
	}
}

// poll looks once for a newer version. The store is read without holding mu, so that
// Err and Current (read by /readyz) never wait on a slow store; polls come from one
// goroutine, so they do not overlap.
func (w *Watcher) poll(ctx context.Context) error {
	v, err := w.Store.Latest(ctx, w.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.Logger.Warn("key store unreachable; keeping the current version", "key", w.Name, "version", w.current, "error", err)
		}
		w.err = err
		return err
	}
	w.err = nil
	if v.Number <= w.seen {
		return nil
	}
	w.seen = v.Number // refused once is enough: it is not tried again every poll
	if err := w.Apply(v); err != nil {
		w.Logger.Error("new key version refused; the current one stays", "key", w.Name, "refused", v.Number, "current", w.current, "error", err)
		return nil
	}
	w.Logger.Info("new key version in use", "key", w.Name, "version", v.Number)
	w.current = v.Number
	return nil
}

// Current is the version in use.
func (w *Watcher) Current() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Err is why the store could not be read at the last poll, or nil.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
