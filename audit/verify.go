package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/transparency-dev/merkle/compact"
)

// Fault is the first place where a log is not what its checkpoints and records say.
type Fault struct {
	Index      int64 // the record at fault, or -1
	Checkpoint int   // the checkpoint at fault (its position in the file), or -1
	What       string
}

func (f *Fault) Error() string {
	switch {
	case f.Index >= 0:
		return fmt.Sprintf("record %d: %s", f.Index, f.What)
	case f.Checkpoint >= 0:
		return fmt.Sprintf("checkpoint %d: %s", f.Checkpoint, f.What)
	}
	return f.What
}

// VerifyReport is what Verify found in a log that holds together.
type VerifyReport struct {
	First, Records  uint64 // the records checked: [First, First+Records)
	Signed          int    // records with a consumer signature, each verified
	Checkpoints     int
	LastCheckpoint  uint64 // size of the largest checkpoint
	UncoveredRecord uint64 // records after the largest checkpoint (normal: up to a second's)
}

// Verify checks a log directory (or an export) offline: every frame's checksum, every
// record's canonical form and sequence number, every consumer signature, every stored leaf
// hash, every checkpoint's signature with keys, and every checkpoint's root against the
// root recomputed from the records. It returns the first fault found, in log order.
func Verify(dir string, keys *KeySet) (*VerifyReport, error) {
	notes, err := readCheckpoints(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	ckpts := make([]*SignedCheckpoint, len(notes))
	for i, n := range notes {
		c, err := OpenCheckpoint(n, keys)
		if err != nil {
			return nil, &Fault{Index: -1, Checkpoint: i, What: err.Error()}
		}
		if i > 0 && c.Size < ckpts[i-1].Size {
			return nil, &Fault{Index: -1, Checkpoint: i, What: fmt.Sprintf("size %d is smaller than the checkpoint before (%d)", c.Size, ckpts[i-1].Size)}
		}
		ckpts[i] = c
	}
	v := &verifier{ckpts: ckpts, tree: openTreeForVerify(dir)}
	defer v.tree.close()
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if err != nil {
		return nil, err
	}
	if len(firsts) == 0 {
		return nil, &Fault{Index: -1, Checkpoint: -1, What: "no segments"}
	}
	if err := v.start(filepath.Join(segDir, segmentName(firsts[0])), firsts[0]); err != nil {
		return nil, err
	}
	for _, first := range firsts {
		if err := v.segment(filepath.Join(segDir, segmentName(first)), first); err != nil {
			return nil, err
		}
	}
	if err := v.checkpointsUpTo(v.next); err != nil {
		return nil, err
	}
	if v.ck < len(ckpts) {
		c := ckpts[v.ck]
		return nil, &Fault{Index: int64(v.next), Checkpoint: -1, What: fmt.Sprintf("the log ends here, but checkpoint %d covers %d records: records were removed", v.ck, c.Size)}
	}
	rep := &VerifyReport{First: v.first, Records: v.next - v.first, Signed: v.signed, Checkpoints: len(ckpts)}
	if len(ckpts) > 0 {
		rep.LastCheckpoint = ckpts[len(ckpts)-1].Size
		rep.UncoveredRecord = v.next - rep.LastCheckpoint
	}
	return rep, nil
}

type verifier struct {
	ckpts  []*SignedCheckpoint
	ck     int // next checkpoint to compare
	rng    *compact.Range
	first  uint64
	next   uint64
	signed int
	tree   *verifyTree
}

// start sets up the compact range at the first segment: empty at record 0, else the
// segment's start state — whose own correctness the first checkpoint after it confirms.
func (v *verifier) start(path string, first uint64) error {
	v.first, v.next = first, first
	if first == 0 {
		v.rng = treeFactory.NewEmptyRange(0)
	} else {
		rng, err := readStartState(path)
		if err != nil || rng.End() != first || rng.Begin() != 0 {
			return &Fault{Index: int64(first), Checkpoint: -1, What: fmt.Sprintf("the start state of the first segment is missing or wrong: %v", err)}
		}
		v.rng = rng
	}
	for v.ck < len(v.ckpts) && v.ckpts[v.ck].Size < first {
		v.ck++ // checkpoints of records no longer kept
	}
	return nil
}

func (v *verifier) segment(path string, first uint64) error {
	if first != v.next {
		return &Fault{Index: int64(v.next), Checkpoint: -1, What: fmt.Sprintf("segment %s starts at record %d: records are missing", filepath.Base(path), first)}
	}
	// A segment is read whole: frames are then sliced out of memory, not read one by one.
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) < headerSize || string(data[:8]) != segmentMagic || binary.BigEndian.Uint64(data[8:headerSize]) != first {
		return &Fault{Index: int64(first), Checkpoint: -1, What: fmt.Sprintf("segment %s: bad header", filepath.Base(path))}
	}
	var recs [][]byte
	_, scanErr := scanFrames(bytes.NewReader(data), headerSize, int64(len(data)), func(off int64, rec []byte) error {
		recs = append(recs, data[off+frameOverhead:off+frameOverhead+int64(len(rec))])
		return nil
	})
	var torn *errTorn
	if scanErr != nil && !errors.As(scanErr, &torn) {
		return scanErr
	}
	if err := v.records(recs); err != nil {
		return err
	}
	if torn != nil && !torn.zeroTail {
		return &Fault{Index: int64(v.next), Checkpoint: -1, What: torn.why}
	}
	return nil
}

// checked is one record as a worker saw it.
type checked struct {
	leaf []byte
	seq  uint64
	sig  bool
	err  error
}

// records checks records in parallel — parsing, hashing and signature verification are
// independent per record — and then in order, where the tree and the checkpoints need it.
func (v *verifier) records(recs [][]byte) error {
	const chunk = 1024
	workers := runtime.GOMAXPROCS(0)
	results := make([]checked, len(recs))
	done := make([]chan struct{}, (len(recs)+chunk-1)/chunk)
	sem := make(chan struct{}, workers)
	for c := range done {
		done[c] = make(chan struct{})
		go func() {
			sem <- struct{}{}
			defer func() { <-sem; close(done[c]) }()
			for i := c * chunk; i < min(len(recs), (c+1)*chunk); i++ {
				results[i] = checkRecord(recs[i])
			}
		}()
	}
	for c := range done {
		<-done[c]
		for i := c * chunk; i < min(len(recs), (c+1)*chunk); i++ {
			if err := v.record(&results[i]); err != nil {
				for _, d := range done[c+1:] {
					<-d
				}
				return err
			}
		}
	}
	return nil
}

func checkRecord(rec []byte) checked {
	r, err := ParseRecord(rec)
	if err != nil {
		return checked{err: err}
	}
	c := checked{seq: r.Seq, leaf: Hasher{}.HashLeaf(rec)}
	if r.Signature != nil {
		c.sig = true
		if err := VerifyConsumerSignature(r); err != nil {
			c.err = fmt.Errorf("consumer signature: %w", err)
		}
	}
	return c
}

func (v *verifier) record(c *checked) error {
	i := v.next
	if err := v.checkpointsUpTo(i); err != nil {
		return err
	}
	if c.err != nil {
		return &Fault{Index: int64(i), Checkpoint: -1, What: c.err.Error()}
	}
	if c.seq != i {
		return &Fault{Index: int64(i), Checkpoint: -1, What: fmt.Sprintf("holds sequence number %d: records were removed, inserted or reordered", c.seq)}
	}
	if c.sig {
		v.signed++
	}
	if stored, ok := v.tree.leaf(i); ok && !bytes.Equal(stored, c.leaf) {
		return &Fault{Index: int64(i), Checkpoint: -1, What: "its hash is not the one the tree was built with: the record was changed"}
	}
	if err := v.rng.Append(c.leaf, nil); err != nil {
		return err
	}
	v.next++
	return nil
}

// checkpointsUpTo compares every checkpoint of size <= n with the root of n records.
func (v *verifier) checkpointsUpTo(n uint64) error {
	for v.ck < len(v.ckpts) && v.ckpts[v.ck].Size <= n {
		c := v.ckpts[v.ck]
		if c.Size == n {
			root, err := v.root()
			if err != nil {
				return err
			}
			if !bytes.Equal(root, c.Root) {
				prev := v.first
				if v.ck > 0 && v.ckpts[v.ck-1].Size > prev {
					prev = v.ckpts[v.ck-1].Size
				}
				return &Fault{Index: -1, Checkpoint: v.ck, What: fmt.Sprintf("the root of %d records does not match the records: one of records %d–%d was changed", c.Size, prev, c.Size-1)}
			}
		}
		v.ck++
	}
	return nil
}

func (v *verifier) root() ([]byte, error) {
	if v.rng.End() == 0 {
		return Hasher{}.EmptyRoot(), nil
	}
	return v.rng.GetRootHash(nil)
}

func readCheckpoints(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	_, err = scanFrames(f, 0, info.Size(), func(_ int64, note []byte) error {
		out = append(out, bytes.Clone(note))
		return nil
	})
	var torn *errTorn
	if errors.As(err, &torn) {
		return nil, &Fault{Index: -1, Checkpoint: len(out), What: torn.why}
	}
	return out, err
}

// verifyTree reads stored leaf hashes when the directory has them (an export may not),
// through a window of the file: leaves are read in order, so the window moves forward.
type verifyTree struct {
	f      *os.File
	window []byte
	at     int64 // file offset of window[0]
}

func openTreeForVerify(dir string) *verifyTree {
	f, err := os.Open(filepath.Join(dir, "tree.hashes"))
	if err != nil {
		return &verifyTree{}
	}
	return &verifyTree{f: f}
}

func (t *verifyTree) leaf(i uint64) ([]byte, bool) {
	if t.f == nil {
		return nil, false
	}
	off := int64(nodePos(compact.NewNodeID(0, i))) * HashSize
	if off < t.at || off+HashSize > t.at+int64(len(t.window)) {
		if t.window == nil {
			t.window = make([]byte, 1<<20)
		}
		// A short read at the end of the file is expected; fewer bytes than a hash is not.
		n, _ := t.f.ReadAt(t.window[:cap(t.window)], off)
		if n < HashSize {
			return nil, false
		}
		t.window, t.at = t.window[:n], off
	}
	return t.window[off-t.at : off-t.at+HashSize], true
}

func (t *verifyTree) close() {
	if t.f != nil {
		t.f.Close()
	}
}
