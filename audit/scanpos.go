package audit

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// ScanPos is where a follower's scan stopped: the index of the next record, the segment
// holding it (its first index) and the byte offset of its frame there. A follower that
// reads a log span by span passes it back so that the next span starts at the frame
// instead of reading (and checksumming) its segment from the start again.
type ScanPos struct {
	Index   uint64
	Segment uint64
	Offset  int64
}

// ScanFromPos is ScanFrom starting at at when at.Index is from and at's segment is still
// there (else from the start of the segment holding from, as ScanFrom). It reads the
// segments through a window, not whole. It returns where it stopped: at the record fn
// refused (returned an error for), or after the last whole record.
func ScanFromPos(dir string, from uint64, at ScanPos, fn func(index uint64, rec []byte) error) (ScanPos, error) {
	segDir := filepath.Join(dir, "segments")
	firsts, err := listSegments(segDir)
	if err != nil {
		return at, err
	}
	pos := ScanPos{Index: from}
	win := &windowReader{buf: make([]byte, scanWindow)}
	for k, first := range firsts {
		if k+1 < len(firsts) && firsts[k+1] <= from {
			continue
		}
		off := int64(headerSize)
		if at.Index == from && at.Segment == first && at.Offset >= headerSize {
			off = at.Offset
		}
		next, err := scanSegmentFile(filepath.Join(segDir, segmentName(first)), win, first, off, from, fn, &pos)
		if err != nil || next != nil {
			return pos, err
		}
	}
	return pos, nil
}

// stopErr is fn's error: fn refused a record, and the scan ends there.
type stopErr struct{ err error }

func (e *stopErr) Error() string { return e.err.Error() }

// scanSegmentFile scans one segment from off, calling fn for records from on and keeping
// pos at the next record. A non-nil *stopErr means fn stopped the scan (returned as
// stopped with its error); a torn tail ends the segment without error.
func scanSegmentFile(path string, win *windowReader, first uint64, off int64, from uint64,
	fn func(uint64, []byte) error, pos *ScanPos) (stopped *stopErr, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // removed by retention meanwhile
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	win.reset(f)
	i := first
	if off > headerSize {
		i = from
	}
	_, err = scanFrames(win, off, info.Size(), func(o int64, rec []byte) error {
		defer func() { i++ }()
		if i < from {
			return nil
		}
		*pos = ScanPos{Index: i, Segment: first, Offset: o}
		if err := fn(i, rec); err != nil {
			return &stopErr{err}
		}
		pos.Index, pos.Offset = i+1, o+frameOverhead+int64(len(rec))
		return nil
	})
	var torn *errTorn
	if errors.As(err, &stopped) {
		return stopped, stopped.err
	}
	// A read past the end is the segment cut shorter than it was when opened: the log
	// seals a segment it rotates away from by cutting its grown zeros, which may be under
	// the reader now. The data ends there, as a whole-file read made then would have
	// found (a torn tail); a record a checkpoint covers missing is the caller's to see.
	if err != nil && !errors.As(err, &torn) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return nil, nil
}

// scanWindow is how much of a segment a follower reads at once.
const scanWindow = 1 << 20

// windowReader serves scanFrames' small reads (a frame header, then its record) from a
// window of the file read ahead, so that a scan is a read per window, not two per record.
type windowReader struct {
	f   *os.File
	buf []byte
	off int64 // the file offset of buf[0]
	n   int   // the valid bytes in buf
}

func (w *windowReader) reset(f *os.File) { w.f, w.off, w.n = f, 0, 0 }

func (w *windowReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= w.off && off+int64(len(p)) <= w.off+int64(w.n) {
		return copy(p, w.buf[off-w.off:]), nil
	}
	if len(p) > len(w.buf) {
		return w.f.ReadAt(p, off)
	}
	n, err := w.f.ReadAt(w.buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	w.off, w.n = off, n
	if n < len(p) {
		return copy(p, w.buf[:n]), io.ErrUnexpectedEOF
	}
	return copy(p, w.buf), nil
}
