package audit

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type scanned struct {
	i   uint64
	rec []byte
}

func scanAll(t *testing.T, dir string, from uint64, at ScanPos) ([]scanned, ScanPos) {
	t.Helper()
	var out []scanned
	pos, err := ScanFromPos(dir, from, at, func(i uint64, rec []byte) error {
		out = append(out, scanned{i, bytes.Clone(rec)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, pos
}

// positionAt scans dir to record index and returns the position of its frame.
func positionAt(t *testing.T, dir string, index uint64) ScanPos {
	t.Helper()
	stop := errors.New("stop")
	pos, err := ScanFromPos(dir, 0, ScanPos{}, func(i uint64, _ []byte) error {
		if i == index {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || pos.Index != index || pos.Offset <= headerSize {
		t.Fatalf("the position of record %d: %+v, %v", index, pos, err)
	}
	return pos
}

// A saved position into a segment changed since — a record rewritten in place, a frame
// before it removed, the segment cut before it and grown with other frames, the segment
// removed — never makes a record read under another index than ScanFrom reads it under:
// what ScanFromPos yields from the position is what ScanFrom yields from the record, or
// begins with a gap (a later record than the one asked for), which the shipper refuses.
func TestScanFromPosAfterTheSegmentChanged(t *testing.T) {
	const at = 150
	crc := crc32.MakeTable(crc32.Castagnoli)
	changes := map[string]func(t *testing.T, dir string){
		"rewritten in place": func(t *testing.T, dir string) {
			path, b, frames, first := segmentFrames(t, dir, at)
			f := frames[at-first]
			b[f[1]-3] ^= 1
			putCRC(b, f[0], crc)
			writeFile(t, path, b)
		},
		"a frame before removed": func(t *testing.T, dir string) {
			path, b, frames, first := segmentFrames(t, dir, at)
			f := frames[at-first-2]
			writeFile(t, path, append(b[:f[0]:f[0]], b[f[1]:]...))
		},
		"cut before and grown": func(t *testing.T, dir string) {
			path, b, frames, first := segmentFrames(t, dir, at)
			cut := frames[at-first-3][0]
			grown := bytes.Clone(b[:cut])
			for k := len(frames) - 1; k > int(at-first-3); k-- { // the later frames, reversed
				grown = append(grown, b[frames[k][0]:frames[k][1]]...)
			}
			writeFile(t, path, grown)
		},
		"cut at the position": func(t *testing.T, dir string) {
			path, b, frames, first := segmentFrames(t, dir, at)
			writeFile(t, path, b[:frames[at-first][0]])
		},
		"removed": func(t *testing.T, dir string) {
			path, _, _, _ := segmentFrames(t, dir, at)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			dir := segmentLog(t)
			pos := positionAt(t, dir, at)
			change(t, dir)
			want := map[uint64][]byte{}
			if err := ScanFrom(dir, 0, func(i uint64, rec []byte) error { want[i] = bytes.Clone(rec); return nil }); err != nil {
				t.Fatal(err)
			}
			got, _ := scanAll(t, dir, at, pos)
			if len(got) == 0 || got[0].i != at {
				t.Logf("a gap: first %v", len(got) > 0 && got[0].i != at)
				return // a gap: the shipper refuses it
			}
			defer func() { t.Logf("%d records from the position", len(got)) }()
			for k, g := range got {
				if g.i != at+uint64(k) {
					t.Logf("a gap after %d records", k)
					return // a gap
				}
				if !bytes.Equal(g.rec, want[g.i]) {
					t.Fatalf("record %d read from the saved position is not what ScanFrom reads as record %d", g.i, g.i)
				}
			}
		})
	}
}

// A position at a frame being written (its header there, its record cut short) yields
// nothing and is returned as it was; once the frame is whole the scan resumes there.
func TestScanFromPosAtATornFrame(t *testing.T) {
	dir := segmentLog(t)
	firsts, err := listSegments(filepath.Join(dir, "segments"))
	if err != nil {
		t.Fatal(err)
	}
	at := firsts[len(firsts)-1] + 3 // in the last segment
	pos := positionAt(t, dir, at)
	path, b, frames, first := segmentFrames(t, dir, at)
	f := frames[at-first]
	writeFile(t, path, b[:f[0]+frameOverhead+(f[1]-f[0]-frameOverhead)/2])
	got, p := scanAll(t, dir, at, pos)
	if len(got) != 0 || p.Index != at {
		t.Fatalf("a torn frame at the position yielded %d records, stopped at %+v", len(got), p)
	}
	writeFile(t, path, b)
	got, _ = scanAll(t, dir, at, p)
	if len(got) != 300-int(at) || got[0].i != at || !bytes.Equal(got[0].rec, b[f[0]+frameOverhead:f[1]]) {
		t.Fatalf("after the frame was written whole: %d records from %d", len(got), got[0].i)
	}
}

// Spans read from their positions while the log is appended to (and rotates) read every
// record once, in order, as ScanFrom reads them afterwards.
func TestScanFromPosWhileAppending(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour, SegmentBytes: 16 << 10})
	const n = 1500
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := l.Append(context.Background(), testRecord(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got [][]byte
	var pos ScanPos
	for deadline := time.Now().Add(time.Minute); len(got) < n && time.Now().Before(deadline); {
		from := uint64(len(got))
		p, err := ScanFromPos(dir, from, pos, func(i uint64, rec []byte) error {
			if i != uint64(len(got)) {
				t.Fatalf("record %d after %d records", i, len(got))
			}
			if i >= from+97 {
				return errStopSpan
			}
			got = append(got, bytes.Clone(rec))
			return nil
		})
		if err != nil && !errors.Is(err, errStopSpan) {
			t.Fatal(err)
		}
		pos = p
	}
	wg.Wait()
	l.Close()
	var want [][]byte
	if err := ScanFrom(dir, 0, func(_ uint64, rec []byte) error { want = append(want, bytes.Clone(rec)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != n || len(want) != n {
		t.Fatalf("read %d records span by span, ScanFrom %d, want %d", len(got), len(want), n)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d read while appending differs from ScanFrom's", i)
		}
	}
	if segs, _ := listSegments(filepath.Join(dir, "segments")); len(segs) < 3 {
		t.Fatalf("%d segments: the log did not rotate while read", len(segs))
	}
}

var errStopSpan = errors.New("end of span")

func putCRC(b []byte, frame int, tab *crc32.Table) {
	n := int(uint32(b[frame])<<24 | uint32(b[frame+1])<<16 | uint32(b[frame+2])<<8 | uint32(b[frame+3]))
	c := crc32.Checksum(b[frame+frameOverhead:frame+frameOverhead+n], tab)
	b[frame+4], b[frame+5], b[frame+6], b[frame+7] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
