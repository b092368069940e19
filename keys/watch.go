package keys

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Watcher keeps one set of related items current — key-store names read together (a TLCP
// pair's signing and encryption bundles), files (a certificate, its key, CAs, a CRL) or
// both — and is the one way govgate watches for new keys and certificates. At each look,
// when any file has another modification time or any name another version, it hands the
// latest versions of all its names to Apply, which checks the whole set and swaps it in as
// one, or refuses it: the last good set stays in use, and a refused set is not retried
// until something changes again. While the store cannot be read the looks back off,
// doubling the interval up to MaxInterval; Err says why the set in use may be stale.
//
// Policy directories are watched by the policy engine with fsnotify instead: a policy is
// many files edited in place, where an event per write and a settling delay catch an
// edit at once; keys and certificates are a few files replaced whole and key-store
// versions, which only polling sees.
type Watcher struct {
	What        string   // what the set is, for log lines ("TLCP pair", "audit key")
	Store       Store    // where Names live; nil when there are none
	Names       []string // key-store names read together, passed to Apply in this order
	Files       []string // files whose change triggers Apply
	Interval    time.Duration
	MaxInterval time.Duration // default a minute
	// Apply checks and swaps in the set: the latest version of each of Names (none when
	// there are no names). An error refuses the whole set.
	Apply  func(versions []*Version) error
	Logger *slog.Logger

	poll    sync.Mutex // one look at a time
	mu      sync.Mutex // the state below
	stamps  FileStamps
	current []int // versions in use
	seen    []int // versions last tried, applied or refused
	refused int
	err     error
}

// Load reads the set and applies it once: a gateway does not start without it, so an
// error is returned. Run (or Poll) looks for changes after.
func (w *Watcher) Load(ctx context.Context) error {
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.MaxInterval <= 0 {
		w.MaxInterval = time.Minute
	}
	w.stamps = FileStamps{}
	w.stamps.Changed(w.Files...) // the times of the files as loaded
	vs, err := w.latest(ctx)
	if err != nil {
		return err
	}
	if err := w.Apply(vs); err != nil {
		return err
	}
	w.current, w.seen = numbers(vs), numbers(vs)
	return nil
}

// Start loads the set and looks for changes on a goroutine of its own until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	if err := w.Load(ctx); err != nil {
		return err
	}
	go w.Run(ctx)
	return nil
}

// Run looks for changes every Interval, backing off while the store cannot be read, and
// returns when ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	wait := w.Interval
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.Poll(ctx); err != nil {
			wait = min(2*wait, w.MaxInterval)
		} else {
			wait = w.Interval
		}
		t.Reset(wait)
	}
}

// Poll looks once and applies what changed. It returns the store's error, after which
// the looks back off. The store is read without holding the state's lock, so that Err,
// Current and Refused (read by /readyz and /metrics) never wait on a slow store.
func (w *Watcher) Poll(ctx context.Context) error {
	w.poll.Lock()
	defer w.poll.Unlock()
	vs, err := w.latest(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.Logger.Warn("key store unreachable; keeping the "+w.What+" in use", "versions", w.current, "error", err)
		}
		w.err = err
		return err
	}
	w.err = nil
	next := numbers(vs)
	filesChanged := w.stamps.Changed(w.Files...)
	if !filesChanged && slices.Equal(next, w.seen) {
		return nil
	}
	w.seen = next
	if err := w.Apply(vs); err != nil {
		w.refused++
		w.Logger.Error("new "+w.What+" refused; the one in use stays", "versions", next, "error", err)
		return nil
	}
	w.Logger.Info("new "+w.What+" in use", "versions", next)
	w.current = next
	return nil
}

// latest reads every name's latest version.
func (w *Watcher) latest(ctx context.Context) ([]*Version, error) {
	if len(w.Names) == 0 {
		return nil, nil
	}
	if w.Store == nil {
		return nil, fmt.Errorf("%s: names %v but no key store", w.What, w.Names)
	}
	vs := make([]*Version, len(w.Names))
	for i, name := range w.Names {
		v, err := w.Store.Latest(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		vs[i] = v
	}
	return vs, nil
}

func numbers(vs []*Version) []int {
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.Number
	}
	return out
}

// Current is the versions in use, in the order of Names.
func (w *Watcher) Current() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.current)
}

// Refused counts the sets refused since start.
func (w *Watcher) Refused() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

// Err is why the store could not be read at the last look, or nil.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// InUse maps each of Names to the version in use: what GET /keys reports per key.
func (w *Watcher) InUse() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.Names))
	for i, name := range w.Names {
		if i < len(w.current) {
			out[name] = w.current[i]
		}
	}
	return out
}
