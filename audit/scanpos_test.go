package audit

import (
	"bytes"
	"errors"
	"testing"
)

// TestScanFromPos reads a log of several segments span by span, each from where the last
// stopped, and gets what ScanFrom reads; a position that is not the record asked for, or
// names a segment no longer there, is not followed: the scan starts at the segment.
func TestScanFromPos(t *testing.T) {
	dir := segmentLog(t)
	var want [][]byte
	if err := ScanFrom(dir, 0, func(_ uint64, rec []byte) error { want = append(want, bytes.Clone(rec)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(want) != 300 {
		t.Fatalf("the log holds %d records, want 300", len(want))
	}
	stop := errors.New("stop")
	var got [][]byte
	var pos ScanPos
	for from := uint64(0); from < 300; from += 37 {
		end := from + 37
		p, err := ScanFromPos(dir, from, pos, func(i uint64, rec []byte) error {
			if i != uint64(len(got)) {
				t.Fatalf("record %d after %d records", i, len(got))
			}
			if i >= end {
				return stop
			}
			got = append(got, bytes.Clone(rec))
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			t.Fatal(err)
		}
		if want := min(end, 300); p.Index != want {
			t.Fatalf("stopped at %+v, want record %d", p, want)
		}
		if from > 0 && p.Offset <= int64(headerSize) && p.Segment == pos.Segment {
			t.Fatalf("position %+v does not move on from %+v", p, pos)
		}
		pos = p
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d differs from ScanFrom's", i)
		}
	}
	// Refused: a position of another record (a stale one) is not a place to start.
	stale := pos
	stale.Index = 5
	var first uint64 = 1 << 63
	if _, err := ScanFromPos(dir, 10, stale, func(i uint64, _ []byte) error { first = min(first, i); return stop }); !errors.Is(err, stop) {
		t.Fatal(err)
	}
	if first != 10 {
		t.Fatalf("a stale position made the scan start at %d, want 10", first)
	}
}
