package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"

	"github.com/transparency-dev/merkle/compact"
)

// Fault is one place where a log is not what its checkpoints and records say.
// The JSON names are the `audit verify --json` contract (docs/architecture.md).
type Fault struct {
	Index      int64  `json:"index"`      // the record at fault, or -1
	Checkpoint int    `json:"checkpoint"` // the checkpoint at fault (its position in the file), or -1
	What       string `json:"what"`
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

// Faults is every fault Verify found, in the order it found them; errors.As finds the
// first *Fault.
type Faults []*Fault

func (fs Faults) Error() string {
	if len(fs) == 1 {
		return fs[0].Error()
	}
	return fmt.Sprintf("%d faults, the first: %v", len(fs), fs[0])
}

// Unwrap lets errors.As and errors.Is see each fault.
func (fs Faults) Unwrap() []error {
	out := make([]error, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

// VerifyReport is what Verify checked and every fault it found.
// The JSON names are the `audit verify --json` contract (docs/architecture.md).
type VerifyReport struct {
	First           uint64   `json:"first"`             // the records checked: [First, First+Records)
	Records         uint64   `json:"records"`           //
	Signed          int      `json:"signed"`            // records with a consumer signature, each verified
	Checkpoints     int      `json:"checkpoints"`       // checkpoints in the file, good or not
	LastCheckpoint  uint64   `json:"last_checkpoint"`   // size of the largest checkpoint
	UncoveredRecord uint64   `json:"uncovered_records"` // records after the largest checkpoint (normal: up to a second's)
	Faults          []*Fault `json:"faults"`
}

// Verify checks a log directory (or an export) offline: every frame's checksum, every
// record's canonical form and sequence number, every consumer signature, every stored leaf
// hash, every checkpoint's signature with keys, and every checkpoint's root against the
// root recomputed from the records. It reports every fault, in log order, and goes on
// after each — a fault found early (even one a consumer could provoke) must not hide a
// change made later. The report is returned with the faults; the error is then a Faults.
// Only a directory that cannot be read at all returns no report.
func Verify(dir string, keys *KeySet) (*VerifyReport, error) {
	v := &verifier{tree: openTreeForVerify(dir)}
	defer v.tree.close()
	if err := v.openCheckpoints(filepath.Join(dir, "checkpoints"), keys); err != nil {
		return nil, err
	}
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if err != nil {
		return nil, err
	}
	if len(firsts) == 0 {
		v.fault(-1, -1, "no segments")
		return v.report(), Faults(v.faults)
	}
	v.start(filepath.Join(segDir, segmentName(firsts[0])), firsts[0])
	for _, first := range firsts {
		if err := v.segment(filepath.Join(segDir, segmentName(first)), first); err != nil {
			return nil, err
		}
	}
	if err := v.checkpointsUpTo(v.next); err != nil {
		return nil, err
	}
	if v.ck < len(v.ckpts) {
		c := v.ckpts[v.ck]
		v.fault(int64(v.next), -1, fmt.Sprintf("the log ends here, but checkpoint %d covers %d records: records were removed", c.pos, c.Size))
	}
	rep := v.report()
	if len(rep.Faults) > 0 {
		return rep, Faults(rep.Faults)
	}
	return rep, nil
}

func (v *verifier) report() *VerifyReport {
	rep := &VerifyReport{First: v.first, Records: v.next - v.first, Signed: v.signed, Checkpoints: v.notes, Faults: v.faults}
	if len(v.ckpts) > 0 {
		rep.LastCheckpoint = v.ckpts[len(v.ckpts)-1].Size
		if v.next > rep.LastCheckpoint {
			rep.UncoveredRecord = v.next - rep.LastCheckpoint
		}
	}
	return rep
}

// positioned is a checkpoint that opened, with its position in the file.
type positioned struct {
	*SignedCheckpoint
	pos int
}

type verifier struct {
	notes    int          // checkpoints in the file, good or not
	ckpts    []positioned // those that opened, sizes never decreasing
	ck       int          // next checkpoint to compare
	rng      *compact.Range
	first    uint64
	next     uint64 // the index of the next leaf of rng
	offset   int64  // sequence number minus index, once records could not be realigned
	diverged bool   // a checkpoint's root differed since rng was last known good
	signed   int
	version  int // the highest record version seen: a log's versions never go back
	tree     *verifyTree
	faults   []*Fault
}

func (v *verifier) fault(index int64, checkpoint int, what string) {
	v.faults = append(v.faults, &Fault{Index: index, Checkpoint: checkpoint, What: what})
}

// openCheckpoints reads the checkpoints file: one that does not open with keys, or that
// is smaller than the one before, is a fault and is not compared.
func (v *verifier) openCheckpoints(path string, keys *KeySet) error {
	notes, err := readCheckpoints(path)
	var torn *Fault
	if err != nil && !errors.As(err, &torn) {
		return err
	}
	v.notes = len(notes)
	for i, n := range notes {
		c, err := OpenCheckpoint(n, keys)
		if err != nil {
			v.fault(-1, i, err.Error())
			continue
		}
		if k := len(v.ckpts); k > 0 && c.Size < v.ckpts[k-1].Size {
			v.fault(-1, i, fmt.Sprintf("size %d is smaller than the checkpoint before (%d)", c.Size, v.ckpts[k-1].Size))
			continue
		}
		v.ckpts = append(v.ckpts, positioned{c, i})
	}
	if torn != nil {
		v.faults = append(v.faults, torn) // the checkpoints before the torn one still count
	}
	return nil
}

// start sets up the compact range at the first segment: empty at record 0, else the
// segment's start state — whose own correctness the first checkpoint after it confirms.
func (v *verifier) start(path string, first uint64) {
	v.first, v.next = first, first
	v.rng = treeFactory.NewEmptyRange(0)
	if first != 0 {
		rng, err := readStartState(path)
		if err != nil || rng.End() != first || rng.Begin() != 0 {
			v.fault(int64(first), -1, fmt.Sprintf("the start state of the first segment is missing or wrong: %v", err))
			v.rng = treeFactory.NewEmptyRange(first)
			v.diverged = true
		} else {
			v.rng = rng
		}
	}
	for v.ck < len(v.ckpts) && v.ckpts[v.ck].Size < first {
		v.ck++ // checkpoints of records no longer kept
	}
}

func (v *verifier) segment(path string, first uint64) error {
	name := filepath.Base(path)
	if first != v.next {
		v.fault(int64(v.next), -1, fmt.Sprintf("segment %s starts at record %d: records are missing", name, first))
		if err := v.realign(path, first); err != nil {
			return err
		}
	} else if v.diverged {
		v.resync(path, first)
	}
	// A segment is read whole: frames are then sliced out of memory, not read one by one.
	data, err := os.ReadFile(path)
	if err != nil {
		v.fault(int64(first), -1, fmt.Sprintf("segment %s cannot be read: %v", name, err))
		return nil
	}
	if len(data) < headerSize || string(data[:8]) != segmentMagic || binary.BigEndian.Uint64(data[8:headerSize]) != first {
		v.fault(int64(first), -1, fmt.Sprintf("segment %s: bad header", name))
		return nil
	}
	frames, torn := verifyFrames(data)
	if err := v.records(frames); err != nil {
		return err
	}
	if torn != "" {
		v.fault(int64(v.next), -1, torn)
	}
	return nil
}

// realign continues after records are missing before the segment at first: from the
// stored tree's leaves when it has them, else from the segment's start state, else
// record by record, with sequence numbers off by the gap.
func (v *verifier) realign(path string, first uint64) error {
	if first > v.next {
		if ok, err := v.fill(first); ok || err != nil {
			return err
		}
		if v.resync(path, first) {
			return nil
		}
	}
	v.offset = int64(first) - int64(v.next)
	return nil
}

// resync restarts the compact range from the segment's start state, when it has one for
// first, after the records before it went wrong; the next checkpoint confirms it.
func (v *verifier) resync(path string, first uint64) bool {
	rng, err := readStartState(path)
	if err != nil || rng.Begin() != 0 || rng.End() != first {
		return false
	}
	for v.ck < len(v.ckpts) && v.ckpts[v.ck].Size < first {
		v.ck++ // checkpoints within the gap cannot be compared
	}
	v.rng, v.next, v.offset, v.diverged = rng, first, 0, false
	return true
}

// maxFill bounds how many missing records are taken from the stored tree in one gap.
const maxFill = 1 << 24

// fill appends the stored tree's leaves for the missing records [v.next, upTo), so that
// the checkpoints after a deletion still check the records that remain. It reports false
// when the tree does not hold them all.
func (v *verifier) fill(upTo uint64) (bool, error) {
	if upTo-v.next > maxFill {
		return false, nil
	}
	if _, ok := v.tree.leaf(upTo - 1); !ok {
		return false, nil
	}
	for v.next < upTo {
		if err := v.checkpointsUpTo(v.next); err != nil {
			return false, err
		}
		leaf, ok := v.tree.leaf(v.next)
		if !ok {
			return false, nil
		}
		if err := v.rng.Append(bytes.Clone(leaf), nil); err != nil {
			return false, err
		}
		v.next++
	}
	v.offset = 0
	return true, nil
}

// verifyFrames slices the frames of a segment. A frame whose checksum fails but whose
// length fits is still returned (with bad set), so that the records after it are checked
// too; a frame that cannot be delimited ends the segment, and torn says why unless only
// zeros (the grown, unwritten part) follow.
func verifyFrames(data []byte) (frames []frame, torn string) {
	off := headerSize
	for off < len(data) {
		rest := data[off:]
		if len(rest) < frameOverhead {
			return frames, zeroTail(rest, "a frame header is cut short")
		}
		n := int64(binary.BigEndian.Uint32(rest[:4]))
		switch {
		case n == 0:
			return frames, zeroTail(rest, "a frame claims 0 bytes")
		case n > MaxRecordBytes:
			return frames, fmt.Sprintf("a frame claims %d bytes", n)
		case int64(len(rest)-frameOverhead) < n:
			return frames, "a record is cut short"
		}
		rec := rest[frameOverhead : frameOverhead+n]
		frames = append(frames, frame{rec: rec, bad: crc32.Checksum(rec, castagnoli) != binary.BigEndian.Uint32(rest[4:8])})
		off += frameOverhead + int(n)
	}
	return frames, ""
}

type frame struct {
	rec []byte
	bad bool // the checksum does not match
}

func zeroTail(rest []byte, why string) string {
	if bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
		return why
	}
	return ""
}

// checked is one record as a worker saw it.
type checked struct {
	leaf    []byte
	seq     uint64
	parsed  bool // seq was read from the record
	version int  // the record's version, when parsed
	sig     bool
	err     error
}

// records checks records in parallel — parsing, hashing and signature verification are
// independent per record — and then in order, where the tree and the checkpoints need it.
func (v *verifier) records(recs []frame) error {
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
				results[i] = checkFrame(recs[i])
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

func checkFrame(f frame) checked {
	if f.bad {
		return checked{leaf: Hasher{}.HashLeaf(f.rec), err: errChecksum}
	}
	return checkRecord(f.rec)
}

var errChecksum = errors.New("a record does not match its checksum")

func checkRecord(rec []byte) checked {
	leaf := Hasher{}.HashLeaf(rec)
	r, err := ParseRecord(rec)
	if err != nil {
		return checked{leaf: leaf, err: err}
	}
	c := checked{seq: r.Seq, parsed: true, version: r.Version, leaf: leaf}
	if r.Signature != nil {
		c.sig = true
		if err := VerifyConsumerSignature(r); err != nil {
			c.err = fmt.Errorf("consumer signature: %w", err)
		}
	}
	return c
}

// record places one record in the tree and reports what is wrong with it. A record that
// cannot be read is taken as the one expected at its place; a gap in sequence numbers is
// filled from the stored tree when it can be, so that one deletion is one fault.
func (v *verifier) record(c *checked) error {
	if !c.parsed {
		c.seq = uint64(int64(v.next) + v.offset) // unknown: taken as the one expected
	}
	if want := uint64(int64(v.next) + v.offset); c.seq != want {
		switch {
		case v.offset == 0 && c.seq > v.next:
			v.fault(int64(v.next), -1, fmt.Sprintf("missing: the record in its place holds sequence number %d: records were removed, inserted or reordered", c.seq))
			if ok, err := v.fill(c.seq); err != nil {
				return err
			} else if !ok {
				v.offset = int64(c.seq) - int64(v.next)
			}
		case v.offset == 0 && c.seq < v.next && v.tree.f != nil:
			v.fault(int64(c.seq), -1, fmt.Sprintf("appears again after record %d: records were removed, inserted or reordered", v.next-1))
			return nil // its place in the tree was taken already
		default:
			v.fault(int64(v.next), -1, fmt.Sprintf("holds sequence number %d: records were removed, inserted or reordered", c.seq))
			v.offset = int64(c.seq) - int64(v.next)
		}
	}
	i := v.next
	if err := v.checkpointsUpTo(i); err != nil {
		return err
	}
	leaf := c.leaf
	if c.err != nil {
		v.fault(int64(i), -1, c.err.Error())
	}
	if c.sig {
		v.signed++
	}
	if c.parsed && c.err == nil && c.version < v.version {
		// A writer only ever moves to a newer format; an older record after a newer one
		// was written by something else (and would escape the newer version's checks).
		v.fault(int64(i), -1, fmt.Sprintf("a version %d record after version %d records: record versions never go back", c.version, v.version))
	}
	if c.parsed {
		v.version = max(v.version, c.version)
	}
	if stored, ok := v.tree.leaf(i); ok {
		if c.err == nil && !bytes.Equal(stored, c.leaf) {
			v.fault(int64(i), -1, "its hash is not the one the tree was built with: the record was changed")
		}
		// The stored leaf goes on into the root: the record's change is reported above,
		// and the checkpoints then check the rest of the log, not this change again.
		leaf = bytes.Clone(stored)
	}
	if err := v.rng.Append(leaf, nil); err != nil {
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
				v.fault(-1, c.pos, v.rootFault(c.Size))
				v.diverged = true
			}
		}
		v.ck++
	}
	return nil
}

// rootFault names the records a checkpoint's differing root puts in doubt.
func (v *verifier) rootFault(size uint64) string {
	prev := v.first
	if v.ck > 0 && v.ckpts[v.ck-1].Size > prev {
		prev = v.ckpts[v.ck-1].Size
	}
	if v.diverged {
		return fmt.Sprintf("the root of %d records does not match the records (they already differ before record %d)", size, prev)
	}
	return fmt.Sprintf("the root of %d records does not match the records: one of records %d–%d was changed", size, prev, size-1)
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
		return out, &Fault{Index: -1, Checkpoint: len(out), What: torn.why}
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
