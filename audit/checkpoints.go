package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// openCheckpoints opens the checkpoints file, cuts a torn tail, and keeps the last
// checkpoint as the current one. Their signatures are checked by Verify, not here: the
// gateway trusts its own files on start, an auditor does not.
func (l *Log) openCheckpoints() (int, error) {
	path := filepath.Join(l.dir, "checkpoints")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	l.ckptFile = f
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	n := 0
	end, err := scanFrames(f, 0, info.Size(), func(_ int64, note []byte) error {
		c, err := parseNoteBody(note)
		if err != nil {
			return fmt.Errorf("checkpoint %d: %w", n, err)
		}
		l.ckpt.Store(&SignedCheckpoint{Checkpoint: c, Note: append([]byte(nil), note...), SignedAt: info.ModTime()})
		n++
		return nil
	})
	var torn *errTorn
	if errors.As(err, &torn) {
		l.log.Warn("audit log: cutting off a torn checkpoint", "offset", end, "why", torn.why)
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

func parseNoteBody(note []byte) (Checkpoint, error) {
	for i := 0; i+1 < len(note); i++ {
		if note[i] == '\n' && note[i+1] == '\n' {
			return parseCheckpointBody(note[:i+1])
		}
	}
	return Checkpoint{}, errors.New("no signature block")
}

// checkpointJob is what one checkpoint covers, captured by the writer between commits.
type checkpointJob struct {
	size   uint64
	root   []byte
	signer *NoteSigner
	// nodes are the tree nodes of records [nodesFrom, size), in memory until the job
	// writes them to tree.hashes.
	nodes     [][]byte
	nodesFrom uint64
}

// captureCheckpoint returns the checkpoint of the current size, or false when no record
// arrived since the last one or appends are failing. Writer goroutine, under ckptMu.
func (l *Log) captureCheckpoint() (checkpointJob, bool) {
	if l.Failing() != "" {
		return checkpointJob{}, false
	}
	size := l.rng.End()
	if c := l.ckpt.Load(); c != nil && c.Size == size {
		return checkpointJob{}, false
	}
	root := Hasher{}.EmptyRoot()
	if size > 0 {
		r, err := l.rng.GetRootHash(nil)
		if err != nil {
			l.log.Error("audit log: root", "error", err)
			return checkpointJob{}, false
		}
		root = r
	}
	l.mu.RLock()
	nodes := l.tree.mem.unwritten(nodesFor(size))
	l.mu.RUnlock()
	return checkpointJob{size: size, root: root, signer: l.opts.Signer, nodes: nodes, nodesFrom: l.treeWritten}, true
}

// checkpointIfGrown signs and writes a checkpoint of the current size if records arrived
// since the last one, after any checkpoint still being written. For close and key
// rotation, which must not go on before it is done.
func (l *Log) checkpointIfGrown() {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	if job, ok := l.captureCheckpoint(); ok {
		l.writeCheckpoint(job)
	}
}

// checkpointInBackground starts the periodic checkpoint on its own goroutine, so that
// appends never wait for its fsyncs (tree, tree.size, checkpoints: a few milliseconds,
// once a second, on the bench machine's disk). If the last one is still being written,
// this tick is skipped.
func (l *Log) checkpointInBackground() {
	if !l.ckptMu.TryLock() {
		return
	}
	job, ok := l.captureCheckpoint()
	if !ok {
		l.ckptMu.Unlock()
		return
	}
	go func() {
		defer l.ckptMu.Unlock()
		l.writeCheckpoint(job)
	}()
}

// writeCheckpoint writes the tree nodes of the job's records and makes them durable, signs
// the checkpoint and appends it to the checkpoints file. Under ckptMu.
func (l *Log) writeCheckpoint(job checkpointJob) {
	if err := l.writeNodes(job); err != nil {
		l.log.Error("audit log: tree nodes not written; kept in memory, checkpoint postponed", "error", err)
		return
	}
	if err := l.syncTree(job.size); err != nil {
		// The nodes stay in memory and the next checkpoint writes them again: after a
		// failed fsync the kernel may have dropped the written pages, and a later fsync
		// that succeeds would not bring them back.
		l.log.Error("audit log: tree not made durable; kept in memory, checkpoint postponed", "error", err)
		return
	}
	l.nodesDurable(job)
	sc, err := job.signer.Sign(Checkpoint{Origin: l.opts.Origin, Size: job.size, Root: job.root})
	if err != nil {
		l.log.Error("audit log: checkpoint not signed", "error", err)
		return
	}
	info, err := l.ckptFile.Stat()
	if err == nil {
		_, err = l.ckptFile.WriteAt(appendFrame(nil, sc.Note), info.Size())
	}
	if err == nil {
		err = l.ckptFile.Sync()
	}
	if err != nil {
		l.log.Error("audit log: checkpoint not written", "size", job.size, "error", err)
		if info != nil {
			_ = l.ckptFile.Truncate(info.Size())
		}
		return
	}
	sc.SignedAt = time.Now()
	l.ckpt.Store(sc)
}

// Checkpoint returns the latest signed checkpoint, or nil before the first.
func (l *Log) Checkpoint() *SignedCheckpoint { return l.ckpt.Load() }

// writeNodes writes the nodes the writer kept in memory for the job's records to
// tree.hashes. They stay in memory until nodesDurable: on an error, here or in the
// fsync after, the next checkpoint writes them with its own.
func (l *Log) writeNodes(job checkpointJob) error {
	at, end := nodesFor(job.nodesFrom), nodesFor(job.size)
	for _, b := range job.nodes {
		if _, err := l.tree.f.WriteAt(b, int64(at)*HashSize); err != nil {
			return err
		}
		at += uint64(len(b)) / HashSize
	}
	if at != end {
		return fmt.Errorf("tree nodes of records %d to %d: %d in memory, want %d", job.nodesFrom, job.size, at-nodesFor(job.nodesFrom), end-nodesFor(job.nodesFrom))
	}
	return nil
}

// nodesDurable lets the job's nodes go once tree.hashes holds them durably (and tree.size
// says so): a proof finds them in the file from then on.
func (l *Log) nodesDurable(job checkpointJob) {
	l.mu.Lock()
	l.tree.mem.flushed(nodesFor(job.size))
	l.treeWritten = job.size
	l.mu.Unlock()
}
