package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// stored tree of dir.
func Prove(dir string, index, size uint64) ([][]byte, error) {
	f, err := os.Open(filepath.Join(dir, "tree.hashes"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return (&nodeStore{f: f}).inclusion(index, size)
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
