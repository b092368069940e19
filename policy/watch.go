package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchSettle is how long the directory must be quiet before a reload: an editor saving a
// file, or a copy of several files, is one change, not many half-written ones.
const watchSettle = 300 * time.Millisecond

// Watch reloads the policy whenever its directory changes, until ctx ends. It returns an
// error only if the directory cannot be watched at all; reload failures are logged and
// kept for Status, and the running revision stays. The watch ends some time after ctx;
// a caller that must know when (to release everything at close) uses OpenWatch.
func (e *Engine) Watch(ctx context.Context) error {
	run, err := e.OpenWatch()
	if err != nil {
		return err
	}
	go run(ctx)
	return nil
}

// OpenWatch sets up the watch of the policy directory, so that an error shows now, and
// returns its loop for the caller to run: it reloads on every change until ctx ends, and
// returns once the watch is closed. The loop must be run, or the watch is never closed.
func (e *Engine) OpenWatch() (run func(ctx context.Context), err error) {
	if e.opts.Dir == "" || e.opts.FS != nil {
		return nil, errors.New("watch policy: only a policy directory can be watched")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch policy %s: %w", e.opts.Dir, err)
	}
	if err := addTree(w, e.opts.Dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch policy %s: %w", e.opts.Dir, err)
	}
	return func(ctx context.Context) { e.watchLoop(ctx, w) }, nil
}

func (e *Engine) watchLoop(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if info, err := os.Stat(ev.Name); err == nil && info.IsDir() {
					if err := addTree(w, ev.Name); err != nil {
						e.log.Warn("policy watch: new directory not watched", "dir", ev.Name, "error", err)
					}
				}
			}
			settle.Reset(watchSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			e.log.Warn("policy watch error", "dir", e.opts.Dir, "error", err)
		case <-settle.C:
			// Reload logs its own outcome; a failure keeps the running revision.
			_, _, _ = e.Reload(ctx)
		}
	}
}

// addTree watches dir and every directory under it; fsnotify is not recursive.
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return w.Add(p)
		}
		return nil
	})
}
