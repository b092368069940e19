package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
)

// The functions here are for a follower of a running log (the shipper of audit/ship): it
// reads what is new since it last looked, and checks it as Verify would, without reading
// the whole log again.

// NewRangeFactory returns the compact-range factory of the log's tree (SM3, RFC 6962).
func NewRangeFactory() *compact.RangeFactory {
	return &compact.RangeFactory{Hash: Hasher{}.HashChildren}
}

// Segments returns the first record index of each segment kept in dir, in order.
func Segments(dir string) ([]uint64, error) {
	return listSegments(filepath.Join(dir, "segments"))
}

// StartState returns the compact range of the records before the segment of dir that
// begins at first, as the log wrote it beside the segment; the next checkpoint after it
// confirms it.
func StartState(dir string, first uint64) (*compact.Range, error) {
	return readStartState(filepath.Join(dir, "segments", segmentName(first)))
}

// ScanFrom calls fn for every whole record of dir with an index of at least from, in
// order, reading only the segments that hold them. A torn tail ends the scan without
// error; a segment removed meanwhile (retention) is skipped.
func ScanFrom(dir string, from uint64, fn func(index uint64, rec []byte) error) error {
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if err != nil {
		return err
	}
	for k, first := range firsts {
		if k+1 < len(firsts) && firsts[k+1] <= from {
			continue
		}
		data, err := os.ReadFile(filepath.Join(segDir, segmentName(first)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		err = scanSegmentRecords(data, first, func(i uint64, rec []byte) error {
			if i < from {
				return nil
			}
			return fn(i, rec)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CheckpointNotes returns the signed notes of dir's checkpoints file in order, without
// opening them; a torn last note (being written) is left out.
func CheckpointNotes(dir string) ([][]byte, error) {
	notes, err := readCheckpoints(filepath.Join(dir, "checkpoints"))
	var torn *Fault
	if err != nil && !errors.As(err, &torn) {
		return nil, err
	}
	return notes, nil
}

// ProveConsistency returns the proof, from dir's stored tree, that the tree of size2
// records extends the tree of size1.
func ProveConsistency(dir string, size1, size2 uint64) ([][]byte, error) {
	f, err := os.Open(filepath.Join(dir, "tree.hashes"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return (&nodeStore{f: f}).consistency(size1, size2)
}

// CheckRecord reads a stored record as Verify does: its bytes must be canonical, its
// members fit its kind, and a consumer signature it carries must verify. It returns the
// record and its leaf hash.
func CheckRecord(rec []byte) (*Record, []byte, error) {
	leaf := Hasher{}.HashLeaf(rec)
	r, err := ParseRecord(rec)
	if err != nil {
		return nil, leaf, err
	}
	if r.Signature != nil {
		if err := VerifyConsumerSignature(r); err != nil {
			return r, leaf, fmt.Errorf("consumer signature: %w", err)
		}
	}
	return r, leaf, nil
}

// CheckpointNotesFrom returns the whole signed notes of dir's checkpoints file from byte
// offset on, and the offset after the last: a follower reads only what was appended since
// it last looked. ErrCheckpointsShrank: the file is now shorter than offset, which an
// append-only file never is.
func CheckpointNotesFrom(dir string, offset int64) ([][]byte, int64, error) {
	f, err := os.Open(filepath.Join(dir, "checkpoints"))
	if errors.Is(err, os.ErrNotExist) && offset == 0 {
		return nil, 0, nil
	}
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, offset, err
	}
	if info.Size() < offset {
		return nil, offset, fmt.Errorf("%w: %d bytes, %d were read before", ErrCheckpointsShrank, info.Size(), offset)
	}
	var out [][]byte
	end, err := scanFrames(f, offset, info.Size(), func(_ int64, note []byte) error {
		out = append(out, bytes.Clone(note))
		return nil
	})
	var torn *errTorn
	if err != nil && !errors.As(err, &torn) {
		return nil, offset, err
	}
	return out, end, nil
}

// CheckpointFrameBytes is how many bytes note takes in the checkpoints file: a follower
// that remembers the last note it read finds it again at its end offset less this.
func CheckpointFrameBytes(note []byte) int64 { return frameOverhead + int64(len(note)) }

// ErrCheckpointsShrank is a checkpoints file shorter than a follower already read.
var ErrCheckpointsShrank = errors.New("the checkpoints file shrank")
