package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/proof"
)

// The functions here read a log directory without changing it, so that auditors' tools
// can run against a copy, an export, or the directory of a running gateway.

// Scan calls fn for every whole record of the log in dir, in order. A torn tail (a batch
// being written) ends the scan without error.
func Scan(dir string, fn func(index uint64, rec []byte) error) error {
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if err != nil {
		return err
	}
	for _, first := range firsts {
		data, err := os.ReadFile(filepath.Join(segDir, segmentName(first)))
		if err != nil {
			return err
		}
		if err := scanSegmentRecords(data, first, fn); err != nil {
			return err
		}
	}
	return nil
}

// ReadRecord returns record index of the log in dir.
func ReadRecord(dir string, index uint64) ([]byte, error) {
	var out []byte
	errFound := errors.New("found")
	err := Scan(dir, func(i uint64, rec []byte) error {
		if i == index {
			out = bytes.Clone(rec)
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("record %d is not in %s", index, dir)
}

// LatestCheckpoint returns the newest checkpoint in dir that verifies with keys.
func LatestCheckpoint(dir string, keys *KeySet) (*SignedCheckpoint, error) {
	notes, err := readCheckpoints(filepath.Join(dir, "checkpoints"))
	var fault *Fault
	if err != nil && !errors.As(err, &fault) {
		return nil, err
	}
	for i := len(notes) - 1; i >= 0; i-- {
		if c, err := OpenCheckpoint(notes[i], keys); err == nil {
			return c, nil
		}
	}
	return nil, errors.New("no checkpoint verifies with the given keys")
}

// Prove returns the inclusion proof of record index in the tree of size records, from the
// stored tree of dir, or, when dir has none (an export made before exports shipped it),
// from the records themselves — which then must begin at record 0.
func Prove(dir string, index, size uint64) ([][]byte, error) {
	f, err := os.Open(filepath.Join(dir, "tree.hashes"))
	if errors.Is(err, os.ErrNotExist) {
		return proveFromRecords(dir, index, size)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return (&nodeStore{f: f}).inclusion(index, size)
}

// proveFromRecords hashes the records [0, size) of dir and builds the proof's nodes from
// their leaves: each node is the root of a perfect subtree, and a proof's subtrees are
// disjoint, so every leaf is hashed into at most one of them.
func proveFromRecords(dir string, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	leaves := make([][]byte, 0, size)
	err = Scan(dir, func(i uint64, rec []byte) error {
		if i != uint64(len(leaves)) {
			return fmt.Errorf("no tree.hashes, and the records begin at %d: a proof needs every record from 0", i)
		}
		if i < size {
			leaves = append(leaves, Hasher{}.HashLeaf(rec))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prove record %d from the records of %s: %w", index, dir, err)
	}
	if uint64(len(leaves)) < size {
		return nil, fmt.Errorf("prove record %d in %d records: %s holds %d", index, size, dir, len(leaves))
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		rng := treeFactory.NewEmptyRange(begin)
		for _, leaf := range leaves[begin:end] {
			if err := rng.Append(leaf, nil); err != nil {
				return nil, err
			}
		}
		if hs := rng.Hashes(); len(hs) == 1 {
			hashes[i] = hs[0] // a perfect subtree's range is its root alone
		} else {
			return nil, fmt.Errorf("tree node %d/%d: %d hashes", id.Level, id.Index, len(hs))
		}
	}
	return nodes.Rehash(hashes, Hasher{}.HashChildren)
}

// ScanNewest calls fn for the records of the log in dir a segment at a time, the newest
// segment first and the records of each in order; after each segment, older says whether
// to go on to the one before. It is how a gateway reads only the tail it needs at start.
// A segment removed meanwhile (retention) ends the scan; a torn tail ends its segment.
func ScanNewest(dir string, fn func(index uint64, rec []byte) error, older func() bool) error {
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a log not yet begun has no tail
	}
	if err != nil {
		return err
	}
	for k := len(firsts) - 1; k >= 0; k-- {
		data, err := os.ReadFile(filepath.Join(segDir, segmentName(firsts[k])))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(data) < headerSize {
			return fmt.Errorf("segment %s: bad header", segmentName(firsts[k]))
		}
		if err := scanSegmentRecords(data, firsts[k], fn); err != nil {
			return err
		}
		if !older() {
			return nil
		}
	}
	return nil
}

// scanSegmentRecords calls fn for each record of one segment's bytes, numbered from first;
// a torn tail (the batch whose sync never returned) ends the records without an error.
func scanSegmentRecords(data []byte, first uint64, fn func(index uint64, rec []byte) error) error {
	i := first
	_, err := scanFrames(bytes.NewReader(data), headerSize, int64(len(data)), func(_ int64, rec []byte) error {
		err := fn(i, rec)
		i++
		return err
	})
	var torn *errTorn
	if err != nil && !errors.As(err, &torn) {
		return err
	}
	return nil
}
