package audit

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/transparency-dev/merkle/compact"
)

// startState is the compact range at a segment's first record, kept beside it so that a
// segment (or an export of sealed segments) can be verified without the records before.
type startState struct {
	Begin  uint64   `json:"begin"`
	End    uint64   `json:"end"`
	Hashes []string `json:"hashes"`
}

func startPath(segPath string) string { return strings.TrimSuffix(segPath, segmentExt) + ".start" }

func writeStartState(segPath string, rng *compact.Range) error {
	st := startState{Begin: rng.Begin(), End: rng.End(), Hashes: []string{}}
	for _, h := range rng.Hashes() {
		st.Hashes = append(st.Hashes, hex.EncodeToString(h))
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileSync(startPath(segPath), b)
}

func readStartState(segPath string) (*compact.Range, error) {
	b, err := os.ReadFile(startPath(segPath))
	if err != nil {
		return nil, err
	}
	var st startState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", startPath(segPath), err)
	}
	hashes := make([][]byte, len(st.Hashes))
	for i, h := range st.Hashes {
		if hashes[i], err = hex.DecodeString(h); err != nil || len(hashes[i]) != HashSize {
			return nil, fmt.Errorf("%s: hash %d", startPath(segPath), i)
		}
	}
	return treeFactory.NewRange(st.Begin, st.End, hashes)
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// recover opens the files and brings them to a consistent state. Records at or below the
// last durable checkpoint or tree mark were acknowledged: if one of them is damaged the
// log refuses to open, because cutting it off would lose an acknowledged record. A damaged
// tail beyond both marks can only be the batch whose fsync never returned, and is cut off.
func (l *Log) recover() error {
	if err := os.MkdirAll(l.segDir(), 0o700); err != nil {
		return err
	}
	if _, err := l.openCheckpoints(); err != nil {
		return err
	}
	treeSize, err := l.openTree()
	if err != nil {
		return err
	}
	acked := treeSize
	if c := l.ckpt.Load(); c != nil && c.Size > acked {
		acked = c.Size
	}
	firsts, err := listSegments(l.segDir())
	if err != nil {
		return err
	}
	if len(firsts) == 0 {
		seg, err := l.createSegment(0, treeFactory.NewEmptyRange(0))
		if err != nil {
			return err
		}
		l.segments = []*segment{seg}
	}
	for i, first := range firsts {
		last := i == len(firsts)-1
		seg, err := l.openSegment(first, last, acked)
		if err != nil {
			return err
		}
		if i > 0 {
			prev := l.segments[i-1]
			if prev.first+prev.count() != first {
				return fmt.Errorf("segment %s starts at record %d, but the one before ends at %d", seg.path, first, prev.first+prev.count())
			}
		}
		l.segments = append(l.segments, seg)
	}
	active := l.segments[len(l.segments)-1]
	l.size = active.first + active.count()
	if acked > l.size {
		return fmt.Errorf("the log holds %d records, but %d were acknowledged: records are missing", l.size, acked)
	}
	return l.rebuildTree(treeSize)
}

func (l *Log) openSegment(first uint64, active bool, acked uint64) (*segment, error) {
	path := filepath.Join(l.segDir(), segmentName(first))
	flag := os.O_RDONLY
	if active {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	seg := &segment{first: first, path: path, f: f}
	if active {
		if err := repairHeader(f, first); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := checkSegmentHeader(f, first); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	end, err := scanFrames(f, headerSize, info.Size(), func(off int64, _ []byte) error {
		seg.offsets = append(seg.offsets, off)
		return nil
	})
	seg.end, seg.alloc = end, info.Size()
	var torn *errTorn
	switch {
	case cleanEnd(err): // the zeros a crash left after the records stay, to be written over
		return seg, nil
	case !errors.As(err, &torn):
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	case !active || first+seg.count() < acked:
		f.Close()
		return nil, fmt.Errorf("%s: record %d, which was acknowledged, is damaged (%s); run govgate audit verify", path, first+seg.count(), torn.why)
	}
	l.log.Warn("audit log: cutting off a torn tail that was never acknowledged", "segment", path, "record", first+seg.count(), "bytes", info.Size()-end, "why", torn.why)
	if err := f.Truncate(end); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	seg.alloc = end
	return seg, nil
}

// repairHeader finishes the header of an active segment whose creation a crash cut short:
// it holds no record, and its name says which record it begins with.
func repairHeader(f *os.File, first uint64) error {
	info, err := f.Stat()
	if err != nil || info.Size() >= headerSize {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(segmentHeader(first), 0); err != nil {
		return err
	}
	return f.Sync()
}

// openTree opens tree.hashes and returns how many records its durable part covers.
func (l *Log) openTree() (uint64, error) {
	f, err := os.OpenFile(filepath.Join(l.dir, "tree.hashes"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	l.tree.f = f
	b, err := os.ReadFile(filepath.Join(l.dir, "tree.size"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("tree.size: unreadable (%v); remove it and tree.hashes to rebuild the tree", err)
	}
	return binary.BigEndian.Uint64(b), nil
}

// rebuildTree recomputes the nodes of the records after the durable tree mark.
func (l *Log) rebuildTree(durable uint64) error {
	if err := l.tree.f.Truncate(int64(nodesFor(durable)) * HashSize); err != nil {
		return err
	}
	var rng *compact.Range
	var err error
	if durable == 0 {
		rng = treeFactory.NewEmptyRange(0)
		if first := l.segments[0].first; first > 0 {
			return fmt.Errorf("the log starts at record %d but has no tree for the records before", first)
		}
	} else if rng, err = l.tree.border(durable); err != nil {
		return err
	}
	var nodes nodeBatch
	for i := durable; i < l.size; i++ {
		rec, err := l.Record(i)
		if err != nil {
			return err
		}
		if err := rng.Append(Hasher{}.HashLeaf(rec), nodes.visit); err != nil {
			return err
		}
	}
	if len(nodes.buf) > 0 {
		if _, err := l.tree.f.WriteAt(nodes.buf, int64(nodesFor(durable))*HashSize); err != nil {
			return err
		}
		l.log.Info("audit log: rebuilt tree nodes", "from", durable, "to", l.size)
	}
	l.rng = rng
	l.treeWritten = l.size
	l.tree.mem = &memNodes{mu: &l.mu, base: nodesFor(l.size), written: nodesFor(l.size)}
	return l.syncTree(l.treeWritten)
}

// syncTree makes the written tree durable and records that it covers the first written
// records; the nodes of those were written before the call.
func (l *Log) syncTree(written uint64) error {
	if err := l.tree.f.Sync(); err != nil {
		return err
	}
	return writeFileSync(filepath.Join(l.dir, "tree.size"), putUint64(written))
}
