package audit

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// pruneEvery is how often the writer looks for segments past retention.
const pruneEvery = time.Hour

// prune removes sealed segments whose newest record is older than the retention, oldest
// first. The active segment is never removed, nor a segment a checkpoint has not yet
// covered; records it removes can no longer be read, but stay provable (the tree is kept).
func (l *Log) prune(now time.Time) {
	if l.opts.Retention <= 0 {
		return
	}
	c := l.ckpt.Load()
	for {
		l.mu.RLock()
		if len(l.segments) < 2 {
			l.mu.RUnlock()
			return
		}
		oldest := l.segments[0]
		l.mu.RUnlock()
		last := oldest.first + oldest.count() - 1
		if oldest.count() == 0 || c == nil || c.Size <= last {
			return
		}
		rec, err := l.Record(last)
		if err != nil {
			l.log.Warn("audit retention: newest record of a segment unreadable", "segment", oldest.path, "error", err)
			return
		}
		r, err := ParseRecord(rec)
		if err != nil || now.Sub(r.Time) < l.opts.Retention {
			return
		}
		l.mu.Lock()
		l.segments = l.segments[1:]
		l.mu.Unlock()
		oldest.f.Close()
		err = errors.Join(os.Remove(oldest.path), os.Remove(startPath(oldest.path)))
		l.log.Info("audit retention: removed a segment", "segment", oldest.path, "records", fmt.Sprintf("%d-%d", oldest.first, last), "newest", r.Time, "error", err)
	}
}
