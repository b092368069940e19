package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// faultAt is one fault a test expects: the record (or -1) or checkpoint (or -1), and a
// phrase of its description.
type faultAt struct {
	index      int64
	checkpoint int
	what       string
}

// wantFaults runs Verify and checks that it reports exactly the faults want, in order,
// with the first also the error's first *Fault.
func wantFaults(t *testing.T, dir string, keys *KeySet, want ...faultAt) *VerifyReport {
	t.Helper()
	rep, err := Verify(dir, keys)
	if rep == nil {
		t.Fatalf("no report: %v", err)
	}
	var first *Fault
	if !errors.As(err, &first) || first != rep.Faults[0] {
		t.Fatalf("verify returned %v, want a fault first", err)
	}
	var got []string
	for _, f := range rep.Faults {
		got = append(got, f.Error())
	}
	if len(rep.Faults) != len(want) {
		t.Fatalf("%d faults, want %d:\n%s", len(rep.Faults), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		f := rep.Faults[i]
		if f.Index != w.index || f.Checkpoint != w.checkpoint || !strings.Contains(f.What, w.what) {
			t.Errorf("fault %d: %v (index %d, checkpoint %d), want index %d, checkpoint %d, %q\nall:\n%s", i, f, f.Index, f.Checkpoint, w.index, w.checkpoint, w.what, strings.Join(got, "\n"))
		}
	}
	return rep
}

// recomputeTamper changes record i's status to 400 and fixes its frame checksum, as a
// careful forger would.
func recomputeTamper(t *testing.T, b []byte, fr [][2]int, i int) {
	t.Helper()
	setStatusByte(t, b, fr, i, '4')
}

// setStatusByte sets the first digit of record i's status to c and fixes the checksum.
func setStatusByte(t *testing.T, b []byte, fr [][2]int, i int, c byte) {
	t.Helper()
	rec := b[fr[i][0]+frameOverhead : fr[i][1]]
	j := bytes.Index(rec, []byte(`"status":200`))
	if j < 0 {
		t.Fatalf("record %d has no status 200", i)
	}
	rec[j+9] = c
	binary.BigEndian.PutUint32(b[fr[i][0]+4:], crc32.Checksum(rec, castagnoli))
}

// TestVerifyReportsEveryFault: a fault found early does not hide a later one — every kind
// of fault is reported and the verifier goes on, so that tampering after an earlier fault
// (even one a consumer provoked) is still found.
func TestVerifyReportsEveryFault(t *testing.T) {
	orig, signer := tamperLog(t)
	keys := loadKeys(t, orig)

	t.Run("changed record, then a flipped byte", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		recomputeTamper(t, b, fr, 73)
		b[fr[150][0]+frameOverhead+20] ^= 0x01
		os.WriteFile(path, b, 0o600)
		rep := wantFaults(t, dir, keys,
			faultAt{73, -1, "hash is not the one the tree was built with"},
			faultAt{150, -1, "checksum"})
		if rep.Records != 200 {
			t.Errorf("checked %d records, want all 200", rep.Records)
		}
		// Without the stored tree, the checkpoints find the change; each one after it
		// differs too, and the flipped byte is still found.
		os.Remove(filepath.Join(dir, "tree.hashes"))
		wantFaults(t, dir, keys,
			faultAt{-1, 1, "records 50–99"},
			faultAt{-1, 2, "does not match"},
			faultAt{150, -1, "checksum"},
			faultAt{-1, 3, "does not match"})
	})
	t.Run("unreadable record, then a changed record", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		setStatusByte(t, b, fr, 60, 'x') // not JSON, checksum right
		recomputeTamper(t, b, fr, 170)
		os.WriteFile(path, b, 0o600)
		wantFaults(t, dir, keys,
			faultAt{60, -1, ""},
			faultAt{170, -1, "hash is not the one the tree was built with"})
	})
	t.Run("record deleted, then a changed record", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		recomputeTamper(t, b, fr, 160)
		out := append(bytes.Clone(b[:fr[120][0]]), b[fr[120][1]:]...)
		os.WriteFile(path, out, 0o600)
		wantFaults(t, dir, keys,
			faultAt{120, -1, "sequence number 121"},
			faultAt{160, -1, "hash is not the one the tree was built with"})
	})
	t.Run("forged checkpoint, then a changed record", func(t *testing.T) {
		dir := copyDir(t, orig)
		forger := testSigner(t, "gw-1-audit")
		root, _ := hex32(t, orig)
		sc, _ := forger.Sign(Checkpoint{Origin: testOrigin, Size: 200, Root: root})
		appendCheckpoint(t, dir, sc.Note)
		sc, _ = signer.Sign(Checkpoint{Origin: testOrigin, Size: 200, Root: bytes.Repeat([]byte{7}, HashSize)})
		appendCheckpoint(t, dir, sc.Note)
		path, b, fr := frames(t, dir)
		recomputeTamper(t, b, fr, 190)
		os.WriteFile(path, b, 0o600)
		wantFaults(t, dir, keys,
			faultAt{-1, 4, "no signature by a known audit key"},
			faultAt{190, -1, "hash is not the one the tree was built with"},
			faultAt{-1, 5, "does not match the records"})
	})
}

// TestVerifyGoesOnAfterABadConsumerSignature: a record whose consumer signature does not
// verify (what a consumer could provoke if the gateway ever recorded other fields than it
// checked) is a fault, and a record changed later is still found.
func TestVerifyGoesOnAfterABadConsumerSignature(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	for i := range 60 {
		r := testRecord(i)
		if i == 10 || i == 11 {
			r.Consumer.PublicKey = "04ab"
			r.Signature = &Signature{Base: `"@method": GET`, Input: `govgate=("@method");created=1`, Signature: `govgate=:AAAA:, other=:AAAA:`}
		}
		if _, err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	path, b, fr := frames(t, dir)
	recomputeTamper(t, b, fr, 40)
	os.WriteFile(path, b, 0o600)
	wantFaults(t, dir, loadKeys(t, dir),
		faultAt{10, -1, "consumer signature"},
		faultAt{11, -1, "consumer signature"},
		faultAt{40, -1, "hash is not the one the tree was built with"})
}

// segmentLog builds a log of 300 records in several segments, a checkpoint every 60.
func segmentLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := testSigner(t, "gw-1-audit")
	for range 5 {
		l := openTestLog(t, dir, s, Options{CheckpointInterval: time.Hour, SegmentBytes: 16 << 10})
		appendN(t, l, 60, 1)
		l.Close()
	}
	return dir
}

// segmentFrames returns the path, bytes and frames of the segment holding record index,
// and the index of its first record.
func segmentFrames(t *testing.T, dir string, index uint64) (string, []byte, [][2]int, uint64) {
	t.Helper()
	firsts, err := listSegments(filepath.Join(dir, "segments"))
	if err != nil {
		t.Fatal(err)
	}
	for k := len(firsts) - 1; k >= 0; k-- {
		if firsts[k] > index {
			continue
		}
		path := filepath.Join(dir, "segments", segmentName(firsts[k]))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out [][2]int
		for off := headerSize; off+frameOverhead <= len(b); {
			n := int(binary.BigEndian.Uint32(b[off:]))
			if n == 0 {
				break
			}
			out = append(out, [2]int{off, off + frameOverhead + n})
			off += frameOverhead + n
		}
		return path, b, out, firsts[k]
	}
	t.Fatalf("no segment holds record %d", index)
	return "", nil, nil, 0
}

func TestVerifyGoesOnAcrossSegments(t *testing.T) {
	orig := segmentLog(t)
	keys := loadKeys(t, orig)
	if rep, err := Verify(orig, keys); err != nil || rep.Records != 300 {
		t.Fatalf("untouched log: %+v %v", rep, err)
	}
	firsts, _ := listSegments(filepath.Join(orig, "segments"))
	if len(firsts) < 4 {
		t.Fatalf("only %d segments", len(firsts))
	}

	t.Run("segment missing, then a changed record", func(t *testing.T) {
		dir := copyDir(t, orig)
		gone := firsts[1]
		os.Remove(filepath.Join(dir, "segments", segmentName(gone)))
		path, b, fr, first := segmentFrames(t, dir, 280)
		recomputeTamper(t, b, fr, int(280-first))
		os.WriteFile(path, b, 0o600)
		wantFaults(t, dir, keys,
			faultAt{int64(gone), -1, "records are missing"},
			faultAt{280, -1, "hash is not the one the tree was built with"})
	})
	t.Run("segment cut short, then a changed record", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr, first := segmentFrames(t, dir, firsts[1])
		cut := fr[3][0] + 5 // inside the fourth record's frame
		os.WriteFile(path, b[:cut], 0o600)
		path, b, fr, first2 := segmentFrames(t, dir, 280)
		recomputeTamper(t, b, fr, int(280-first2))
		os.WriteFile(path, b, 0o600)
		wantFaults(t, dir, keys,
			faultAt{int64(first + 3), -1, "cut short"},
			faultAt{int64(first + 3), -1, "records are missing"},
			faultAt{280, -1, "hash is not the one the tree was built with"})
	})
}

// FuzzVerifyFrames: whatever a segment holds, the verifier's walk stays inside it, returns
// frames back to back from the header with their checksums judged right, and calls the
// end clean only when nothing but zeros is left.
func FuzzVerifyFrames(f *testing.F) {
	hdr := make([]byte, headerSize)
	f.Add(append(bytes.Clone(hdr), appendFrame(nil, []byte(`{"a":1}`))...))
	f.Add(append(append(bytes.Clone(hdr), appendFrame(nil, []byte(`{"a":1}`))...), make([]byte, 40)...))
	bad := appendFrame(nil, []byte(`{"a":1}`))
	bad[9] ^= 1
	f.Add(append(append(bytes.Clone(hdr), bad...), appendFrame(nil, []byte(`{"b":2}`))...))
	f.Add(append(bytes.Clone(hdr), 0, 0, 0, 9, 1, 2, 3, 4, 'a'))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < headerSize {
			return
		}
		frames, torn := verifyFrames(data)
		off := headerSize
		for _, fr := range frames {
			n := int(binary.BigEndian.Uint32(data[off:]))
			if n != len(fr.rec) || off+frameOverhead+n > len(data) || !bytes.Equal(data[off+frameOverhead:off+frameOverhead+n], fr.rec) {
				t.Fatalf("frame at %d is not the bytes there", off)
			}
			if fr.bad != (crc32.Checksum(fr.rec, castagnoli) != binary.BigEndian.Uint32(data[off+4:])) {
				t.Fatalf("frame at %d: checksum judged wrong", off)
			}
			off += frameOverhead + n
		}
		rest := data[off:]
		allZero := !bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 })
		if (torn == "") != allZero {
			t.Fatalf("walk ended at %d with %q; the rest all zeros: %v", off, torn, allZero)
		}
	})
}

// FuzzVerifyMutation changes one byte of a log's segment, anywhere — header, frame
// length, checksum, record, the zeros grown ahead — and holds Verify to finding it, with
// or without the stored tree, and to never failing outright on what it reads.
func FuzzVerifyMutation(f *testing.F) {
	orig := f.TempDir()
	l := openTestLog(f, orig, testSigner(f, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	appendN(f, l, 20, 1)
	l.Close()
	segPath := filepath.Join("segments", segmentName(0))
	pristine, err := os.ReadFile(filepath.Join(orig, segPath))
	if err != nil {
		f.Fatal(err)
	}
	keys := loadKeys(f, orig)
	f.Add(uint32(3), byte(1), false)
	f.Add(uint32(headerSize+2), byte(0x80), true)
	f.Add(uint32(len(pristine)-1), byte(7), false)
	f.Fuzz(func(t *testing.T, at uint32, xor byte, noTree bool) {
		if xor == 0 {
			return
		}
		dir := copyDir(t, orig)
		b := bytes.Clone(pristine)
		b[int(at)%len(b)] ^= xor
		os.WriteFile(filepath.Join(dir, segPath), b, 0o600)
		if noTree {
			os.Remove(filepath.Join(dir, "tree.hashes"))
		}
		rep, err := Verify(dir, keys)
		if rep == nil || len(rep.Faults) == 0 {
			t.Fatalf("byte %d ^ %#x went unreported: %+v %v", int(at)%len(b), xor, rep, err)
		}
	})
}
