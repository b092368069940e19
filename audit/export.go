package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Exported is what an export holds: records [First, End) and the signed checkpoint of
// size End, the newest in the export, which covers every exported record.
type Exported struct {
	First, End uint64
	Checkpoint *SignedCheckpoint // parsed, not verified: the auditor verifies it
}

// Export copies the log in dir, up to its latest checkpoint, into out (a new or empty
// directory), which then verifies, proves and reports on its own: the segments' records up
// to that checkpoint (the active segment's too, cut there, so nothing waits for a segment
// to seal), their start states, the checkpoints up to it, the tree's nodes for it
// (tree.hashes, so that `audit proof` works on the export) and the key set.
//
// Only records a checkpoint covers are exported: a checkpoint is what makes the export's
// tail provable, and only the gateway holds the key that signs one. A gateway signs one
// every checkpoint_interval while records arrive and at close, so what is left out is at
// most that interval's records; Log.Export signs a fresh one first, for a caller inside
// the gateway. Everything Export reads is durable and never rewritten once a checkpoint
// covers it, so it runs beside a running gateway.
func Export(dir, out string) (*Exported, error) {
	ex, err := exportTo(dir, out)
	if err != nil {
		return nil, fmt.Errorf("export %s to %s: %w", dir, out, err)
	}
	return ex, nil
}

func exportTo(dir, out string) (*Exported, error) {
	notes, c, err := latestNote(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if err != nil {
		return nil, err
	}
	if len(firsts) == 0 || firsts[0] >= c.Size {
		return nil, fmt.Errorf("the latest checkpoint (size %d) covers none of the records kept", c.Size)
	}
	if err := makeEmptyDir(out); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(out, "segments"), 0o700); err != nil {
		return nil, err
	}
	ex := &Exported{First: firsts[0], End: c.Size, Checkpoint: c}
	for k, first := range firsts {
		if first >= c.Size {
			break
		}
		upTo := c.Size
		if k+1 < len(firsts) {
			upTo = min(upTo, firsts[k+1])
		}
		if err := exportSegment(segDir, filepath.Join(out, "segments"), first, upTo); err != nil {
			return nil, err
		}
	}
	var buf []byte
	for _, n := range notes {
		nc, err := parseNoteBody(n)
		if err != nil {
			return nil, err
		}
		if nc.Size >= ex.First && nc.Size <= ex.End {
			buf = appendFrame(buf, n)
		}
	}
	if err := writeNew(filepath.Join(out, "checkpoints"), buf); err != nil {
		return nil, err
	}
	if err := exportTree(dir, out, c.Size); err != nil {
		return nil, err
	}
	if err := copyFile(filepath.Join(dir, "keys.json"), filepath.Join(out, "keys.json")); err != nil {
		return nil, err
	}
	return ex, syncDir(out)
}

// latestNote reads the checkpoints file and returns its notes and the largest checkpoint
// (the last of those of that size). A checkpoint being written (a torn tail) is left out;
// a smaller one appended after it by someone else does not shorten the export — it is
// exported with the others, and verifying the export reports it.
func latestNote(path string) ([][]byte, *SignedCheckpoint, error) {
	notes, err := readCheckpoints(path)
	var torn *Fault
	if err != nil && !errors.As(err, &torn) {
		return nil, nil, err
	}
	var latest *SignedCheckpoint
	for i, n := range notes {
		c, err := parseNoteBody(n)
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint %d: %w", i, err)
		}
		if latest == nil || c.Size >= latest.Size {
			latest = &SignedCheckpoint{Checkpoint: c, Note: n}
		}
	}
	if latest == nil {
		return nil, nil, errors.New("no checkpoint yet: the gateway signs one within checkpoint_interval of a record, and at close")
	}
	return notes, latest, nil
}

// exportSegment copies the header and the frames of records [first, upTo) of one segment,
// and its start state; the frames after, and an active segment's zeros, stay behind.
func exportSegment(from, to string, first, upTo uint64) error {
	name := segmentName(first)
	f, err := os.Open(filepath.Join(from, name))
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	i, end := first, int64(headerSize)
	errEnough := errors.New("enough")
	_, err = scanFrames(f, headerSize, info.Size(), func(off int64, rec []byte) error {
		if i == upTo {
			return errEnough
		}
		i++
		end = off + frameOverhead + int64(len(rec))
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) && i < upTo {
		return fmt.Errorf("segment %s: %w", name, err)
	}
	if i < upTo {
		return fmt.Errorf("segment %s holds records up to %d, the checkpoint covers up to %d", name, i, upTo)
	}
	if err := copyPrefix(f, filepath.Join(to, name), end); err != nil {
		return err
	}
	return copyFile(startPath(filepath.Join(from, name)), startPath(filepath.Join(to, name)))
}

// exportTree copies the nodes of the tree of size records: tree.hashes only grows, and a
// checkpoint is signed after the nodes it covers are durable.
func exportTree(dir, out string, size uint64) error {
	f, err := os.Open(filepath.Join(dir, "tree.hashes"))
	if err != nil {
		return err
	}
	defer f.Close()
	return copyPrefix(f, filepath.Join(out, "tree.hashes"), int64(nodesFor(size))*HashSize)
}

// makeEmptyDir creates dir, or accepts it when it exists and is empty: an export never
// mixes with files already there.
func makeEmptyDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty", dir)
	}
	return nil
}

// copyPrefix copies the first n bytes of src to a new file dst.
func copyPrefix(src *os.File, dst string, n int64) error {
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	written, err := io.Copy(o, io.NewSectionReader(src, 0, n))
	if err == nil && written < n {
		err = fmt.Errorf("%s: %d bytes, want %d", src.Name(), written, n)
	}
	if err == nil {
		err = o.Sync()
	}
	return errors.Join(err, o.Close())
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	return copyPrefix(in, dst, info.Size())
}

func writeNew(path string, b []byte) error {
	o, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = o.Write(b)
	if err == nil {
		err = o.Sync()
	}
	return errors.Join(err, o.Close())
}

// Export signs a checkpoint of every record made durable so far (unless the latest
// already covers them) and exports the log up to it into out: what a caller inside the
// gateway uses, so that the export holds every record acknowledged before the call.
func (l *Log) Export(ctx context.Context, out string) (*Exported, error) {
	if err := l.checkpointNow(ctx); err != nil {
		return nil, fmt.Errorf("export %s to %s: %w", l.dir, out, err)
	}
	return Export(l.dir, out)
}

// checkpointNow has the writer sign a checkpoint of the current size, if it grew.
func (l *Log) checkpointNow(ctx context.Context) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	done := make(chan struct{})
	select {
	case l.ckptNow <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	if c := l.ckpt.Load(); c == nil || c.Size < l.Size() {
		return fmt.Errorf("no checkpoint covers the %d records (appends failing: %q)", l.Size(), l.Failing())
	}
	return nil
}
