package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Segment files: a 16-byte header (magic and the index of the first record), then frames.
const (
	segmentMagic  = "GGAUDIT1"
	headerSize    = 16
	frameOverhead = 8
	// MaxRecordBytes bounds one record; anything larger in a frame header is corruption.
	MaxRecordBytes = 1 << 20
	segmentExt     = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame frames one record: [u32 length][u32 CRC-32C of the record][record].
func appendFrame(dst, rec []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(rec)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(rec, castagnoli))
	return append(dst, rec...)
}

// appendRecordFrame frames the record head‖seq‖tail in place, without building the
// record apart first, and returns the record's bytes inside dst.
func appendRecordFrame(dst, head []byte, seq uint64, tail []byte) (out, rec []byte) {
	at := len(dst)
	dst = append(dst, make([]byte, frameOverhead)...)
	dst = joinSeq(dst, head, seq, tail)
	rec = dst[at+frameOverhead:]
	binary.BigEndian.PutUint32(dst[at:], uint32(len(rec)))
	binary.BigEndian.PutUint32(dst[at+4:], crc32.Checksum(rec, castagnoli))
	return dst, rec
}

// appendPrehashedFrame is appendRecordFrame for a record whose head the appending
// goroutine has already hashed (appendReq): it frames head‖seq‖tail into dst and
// finishes the frame's CRC-32C and the record's leaf hash, into r.sum, over seq‖tail only.
// The bytes are appendRecordFrame's and the hash Hasher.HashLeaf's (TestPrehashedFrame).
func appendPrehashedFrame(dst []byte, r *appendReq, head []byte, seq uint64, tail []byte) []byte {
	at := len(dst)
	var hdr [frameOverhead]byte
	dst = append(dst, hdr[:]...)
	dst = joinSeq(dst, head, seq, tail)
	rec := dst[at+frameOverhead:]
	rest := rec[len(head):]
	binary.BigEndian.PutUint32(dst[at:], uint32(len(rec)))
	binary.BigEndian.PutUint32(dst[at+4:], crc32.Update(r.crc, castagnoli, rest))
	r.leaf.Write(rest)
	r.leaf.Sum(r.sum[:0])
	return dst
}

// errTorn is a frame that is cut short or does not match its checksum; or, with
// zeroTail, the zeros an active segment is grown by ahead of its records, which end its
// data cleanly.
type errTorn struct {
	offset   int64
	why      string
	zeroTail bool
}

func (e *errTorn) Error() string { return fmt.Sprintf("offset %d: %s", e.offset, e.why) }

// scanFrames reads frames from r starting at offset until the end, calling fn for each.
// It returns the offset after the last whole frame, and an *errTorn if the data ends in
// a partial or corrupt frame.
func scanFrames(r io.ReaderAt, offset, end int64, fn func(offset int64, rec []byte) error) (int64, error) {
	var hdr [frameOverhead]byte
	buf := make([]byte, 0, 4096)
	for offset < end {
		if end-offset < frameOverhead {
			zeros, err := allZero(r, offset, end)
			if err != nil {
				return offset, err
			}
			return offset, &errTorn{offset, "a frame header is cut short", zeros}
		}
		if _, err := r.ReadAt(hdr[:], offset); err != nil {
			return offset, err
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		if n == 0 {
			// No record is empty: a zero length begins the grown, not yet written part
			// of an active segment — if everything after it is zero too.
			zeros, err := allZero(r, offset, end)
			if err != nil {
				return offset, err
			}
			return offset, &errTorn{offset, "a frame claims 0 bytes", zeros}
		}
		if n > MaxRecordBytes {
			return offset, &errTorn{offset, fmt.Sprintf("a frame claims %d bytes", n), false}
		}
		if end-offset-frameOverhead < n {
			return offset, &errTorn{offset, "a record is cut short", false}
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		rec := buf[:n]
		if _, err := r.ReadAt(rec, offset+frameOverhead); err != nil {
			return offset, err
		}
		if crc32.Checksum(rec, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return offset, &errTorn{offset, "a record does not match its checksum", false}
		}
		if err := fn(offset, rec); err != nil {
			return offset, err
		}
		offset += frameOverhead + n
	}
	return offset, nil
}

// allZero reports whether r holds only zero bytes from offset to end.
func allZero(r io.ReaderAt, offset, end int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for offset < end {
		n := min(int64(len(buf)), end-offset)
		if _, err := r.ReadAt(buf[:n], offset); err != nil {
			return false, err
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		offset += n
	}
	return true, nil
}

// cleanEnd reports whether a scan's error is only the zero tail of a grown segment.
func cleanEnd(err error) bool {
	var torn *errTorn
	return err == nil || errors.As(err, &torn) && torn.zeroTail
}

func segmentHeader(first uint64) []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, segmentMagic...)
	return binary.BigEndian.AppendUint64(b, first)
}

func checkSegmentHeader(f *os.File, first uint64) error {
	var hdr [headerSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if string(hdr[:8]) != segmentMagic {
		return errors.New("not a govgate audit segment")
	}
	if got := binary.BigEndian.Uint64(hdr[8:]); got != first {
		return fmt.Errorf("header says the first record is %d, the name says %d", got, first)
	}
	return nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentExt) }

// listSegments returns the first indexes of the segments in dir, in order.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || len(name) != 20 {
			return nil, fmt.Errorf("%s: not a segment name", filepath.Join(dir, e.Name()))
		}
		out = append(out, first)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// syncDir makes a new or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
