package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// Export copies the sealed segments of the log in dir, their start states, the checkpoints
// that cover no more than they hold, and the key set into out, which then verifies on its
// own with Verify. It reads only files the gateway no longer writes, so it can run while
// the gateway does. It returns the records exported, [first, end).
func Export(dir, out string) (first, end uint64, err error) {
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if err != nil {
		return 0, 0, err
	}
	if len(firsts) < 2 {
		return 0, 0, errors.New("export: no sealed segment yet")
	}
	sealed := firsts[:len(firsts)-1]
	first, end = sealed[0], firsts[len(firsts)-1]
	if err := os.MkdirAll(filepath.Join(out, "segments"), 0o700); err != nil {
		return 0, 0, err
	}
	for _, f := range sealed {
		p := filepath.Join(segDir, segmentName(f))
		if err := copyFile(p, filepath.Join(out, "segments", segmentName(f))); err != nil {
			return 0, 0, err
		}
		if err := copyFile(startPath(p), startPath(filepath.Join(out, "segments", segmentName(f)))); err != nil {
			return 0, 0, err
		}
	}
	notes, err := readCheckpoints(filepath.Join(dir, "checkpoints"))
	var fault *Fault
	if err != nil && !errors.As(err, &fault) { // a checkpoint being written is left out
		return 0, 0, err
	}
	var buf []byte
	for _, n := range notes {
		c, err := parseNoteBody(n)
		if err != nil {
			return 0, 0, err
		}
		if c.Size >= first && c.Size <= end {
			buf = appendFrame(buf, n)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "checkpoints"), buf, 0o600); err != nil {
		return 0, 0, err
	}
	return first, end, copyFile(filepath.Join(dir, "keys.json"), filepath.Join(out, "keys.json"))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	if err := o.Sync(); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}
