package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tamperLog builds a log of 200 records with checkpoints at 50, 100, 150 and 200 and
// returns its directory and signer.
func tamperLog(t *testing.T) (string, *NoteSigner) {
	t.Helper()
	dir := t.TempDir()
	s := testSigner(t, "gw-1-audit")
	// Each close writes a checkpoint; the interval is too long to add others.
	for range 4 {
		l := openTestLog(t, dir, s, Options{CheckpointInterval: time.Hour})
		appendN(t, l, 50, 1)
		l.Close()
	}
	return dir, s
}

// copyDir copies a log directory so that each tampering starts from the same log.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// frames returns the segment's bytes and the [start, end) of each record frame.
func frames(t *testing.T, dir string) (string, []byte, [][2]int) {
	t.Helper()
	path := filepath.Join(dir, "segments", segmentName(0))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]int
	for off := headerSize; off < len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		out = append(out, [2]int{off, off + frameOverhead + n})
		off += frameOverhead + n
	}
	return path, b, out
}

func wantFault(t *testing.T, name, dir string, keys *KeySet, index int64, checkpoint int, what string) {
	t.Helper()
	_, err := Verify(dir, keys)
	var f *Fault
	if !errors.As(err, &f) {
		t.Errorf("%s: verify returned %v, want a fault", name, err)
		return
	}
	if f.Index != index || f.Checkpoint != checkpoint || !strings.Contains(f.What, what) {
		t.Errorf("%s: %v (index %d, checkpoint %d), want index %d, checkpoint %d, %q", name, f, f.Index, f.Checkpoint, index, checkpoint, what)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	orig, signer := tamperLog(t)
	keys := loadKeys(t, orig)
	if rep, err := Verify(orig, keys); err != nil || rep.Records != 200 || rep.Checkpoints != 4 {
		t.Fatalf("untouched log: %+v %v", rep, err)
	}

	t.Run("byte flipped", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		b[fr[73][0]+frameOverhead+20] ^= 0x01
		os.WriteFile(path, b, 0o600)
		wantFault(t, "flipped", dir, keys, 73, -1, "checksum")
	})
	t.Run("byte flipped, checksum recomputed", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		rec := b[fr[73][0]+frameOverhead : fr[73][1]]
		i := bytes.Index(rec, []byte(`"status":200`))
		rec[i+9] = '4' // "status":400, still canonical
		binary.BigEndian.PutUint32(b[fr[73][0]+4:], crc32.Checksum(rec, castagnoli))
		os.WriteFile(path, b, 0o600)
		wantFault(t, "recomputed", dir, keys, 73, -1, "hash is not the one the tree was built with")
		// Without the tree, the checkpoint over it finds it, naming the range.
		os.Remove(filepath.Join(dir, "tree.hashes"))
		wantFault(t, "recomputed, no tree", dir, keys, -1, 1, "records 50–99")
	})
	t.Run("record deleted", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		out := append(bytes.Clone(b[:fr[120][0]]), b[fr[120][1]:]...)
		os.WriteFile(path, out, 0o600)
		wantFault(t, "deleted", dir, keys, 120, -1, "sequence number 121")
	})
	t.Run("records swapped", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		out := bytes.Clone(b[:fr[30][0]])
		out = append(out, b[fr[31][0]:fr[31][1]]...)
		out = append(out, b[fr[30][0]:fr[30][1]]...)
		out = append(out, b[fr[31][1]:]...)
		os.WriteFile(path, out, 0o600)
		wantFault(t, "swapped", dir, keys, 30, -1, "sequence number 31")
	})
	t.Run("log truncated", func(t *testing.T) {
		dir := copyDir(t, orig)
		path, b, fr := frames(t, dir)
		os.WriteFile(path, b[:fr[180][0]], 0o600)
		wantFault(t, "truncated", dir, keys, 180, -1, "checkpoint 3 covers 200 records")
	})
	t.Run("checkpoint forged with another key", func(t *testing.T) {
		dir := copyDir(t, orig)
		forger := testSigner(t, "gw-1-audit") // same name, another key
		root, _ := hex32(t, orig)
		sc, _ := forger.Sign(Checkpoint{Origin: testOrigin, Size: 200, Root: root})
		appendCheckpoint(t, dir, sc.Note)
		wantFault(t, "forged", dir, keys, -1, 4, "no signature by a known audit key")
	})
	t.Run("checkpoint root does not match", func(t *testing.T) {
		dir := copyDir(t, orig)
		sc, _ := signer.Sign(Checkpoint{Origin: testOrigin, Size: 200, Root: bytes.Repeat([]byte{7}, HashSize)})
		appendCheckpoint(t, dir, sc.Note)
		wantFault(t, "wrong root", dir, keys, -1, 4, "does not match the records")
	})
}

// hex32 returns the root of the whole untouched log, recomputed.
func hex32(t *testing.T, dir string) ([]byte, error) {
	t.Helper()
	notes, err := readCheckpoints(filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseNoteBody(notes[len(notes)-1])
	return c.Root, err
}

func appendCheckpoint(t *testing.T, dir string, note []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "checkpoints"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(appendFrame(nil, note)); err != nil {
		t.Fatal(err)
	}
}

func FuzzOpenCheckpoint(f *testing.F) {
	s := testSigner(f, "k")
	keys := &KeySet{}
	keys.Adopt(s, 0)
	sc, _ := s.Sign(Checkpoint{Origin: "o", Size: 3, Root: make([]byte, HashSize)})
	f.Add(sc.Note)
	f.Add([]byte("o\n1\nAAAA\n\n— k AAAA\n"))
	f.Fuzz(func(t *testing.T, note []byte) {
		c, err := OpenCheckpoint(note, keys)
		if err == nil && (c.Origin == "" || len(c.Root) != HashSize) {
			t.Fatalf("accepted %q as %+v", note, c)
		}
	})
}

func FuzzParseReceipt(f *testing.F) {
	f.Add("log=govgate/gw-1; index=12; leaf=" + strings.Repeat("ab", 32))
	f.Add("log=a;index=1;leaf=00")
	f.Fuzz(func(t *testing.T, v string) {
		r, err := ParseReceipt(v)
		if err != nil {
			return
		}
		back, err := ParseReceipt(r.String())
		if err != nil || back.Index != r.Index || back.Origin != r.Origin {
			t.Fatalf("%q parsed as %+v, which does not round-trip: %v", v, r, err)
		}
	})
}

// TestKeyRotation: a new key signs from the size at which it took over; the verifier
// accepts each key for its range and refuses a retired key's later signature.
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	old, next := testSigner(t, "gw-1-audit"), testSigner(t, "gw-1-audit")
	l := openTestLog(t, dir, old, Options{})
	appendN(t, l, 10, 2)
	l.Close()
	l = openTestLog(t, dir, next, Options{})
	appendN(t, l, 10, 2)
	l.Close()
	keys := loadKeys(t, dir)
	if len(keys.Keys) != 2 || keys.Keys[0].UntilSize == nil || *keys.Keys[0].UntilSize != 10 || keys.Keys[1].FromSize != 10 {
		t.Fatalf("key set after rotation: %+v", keys.Keys)
	}
	rep, err := Verify(dir, keys)
	if err != nil || rep.Checkpoints != 2 {
		t.Fatalf("rotated log: %+v %v", rep, err)
	}
	root, _ := hex32(t, dir)
	sc, _ := old.Sign(Checkpoint{Origin: testOrigin, Size: 20, Root: root})
	appendCheckpoint(t, dir, sc.Note)
	wantFault(t, "retired key", dir, keys, -1, 2, "retired at size 10")
}

// TestKeyAdoptedAgain: a key retired and adopted again (the same key under the same name,
// as when a log goes back to a key name it signed under before) has two entries in the key
// set; the verifier accepts its checkpoints in either range.
func TestKeyAdoptedAgain(t *testing.T) {
	dir := t.TempDir()
	a, b := testSigner(t, testOrigin), testSigner(t, "gw-1-audit")
	for _, s := range []*NoteSigner{a, b, a} {
		l := openTestLog(t, dir, s, Options{})
		appendN(t, l, 10, 2)
		l.Close()
	}
	keys := loadKeys(t, dir)
	if len(keys.Keys) != 3 || keys.Keys[2].KeyID != a.KeyID() || keys.Keys[2].FromSize != 20 || keys.Keys[2].UntilSize != nil {
		t.Fatalf("key set: %+v", keys.Keys)
	}
	rep, err := Verify(dir, keys)
	if err != nil || rep.Checkpoints != 3 || len(rep.Faults) != 0 {
		t.Fatalf("log signed by a key adopted again: %+v %v", rep, err)
	}
	root, _ := hex32(t, dir)
	sc, _ := b.Sign(Checkpoint{Origin: testOrigin, Size: 30, Root: root})
	appendCheckpoint(t, dir, sc.Note)
	wantFault(t, "retired key", dir, keys, -1, 3, "retired at size 20")
}

// TestLiveKeyRotation rotates the key of a running log: the old key signs up to the swap,
// the new one after, and the log verifies with the key set it keeps.
func TestLiveKeyRotation(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	appendN(t, l, 30, 3)
	if err := l.SetSigner(testSigner(t, "gw-1-audit")); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 30, 3)
	l.Close()
	keys := loadKeys(t, dir)
	rep, err := Verify(dir, keys)
	if err != nil || rep.Checkpoints != 2 || len(keys.Keys) != 2 || keys.Keys[1].FromSize != 30 {
		t.Fatalf("after live rotation: %+v %v %+v", rep, err, keys.Keys)
	}
}

func TestReceiptFormat(t *testing.T) {
	r := Receipt{Origin: "govgate/gw-1", Index: 12, Leaf: bytes.Repeat([]byte{0xab}, HashSize)}
	want := "log=govgate/gw-1; index=12; leaf=" + strings.Repeat("ab", HashSize)
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := string(r.Append([]byte("x"))); got != "x"+want {
		t.Errorf("Append = %q", got)
	}
}

// FuzzScanFrames: whatever a segment holds, the scan stays inside it, returns whole frames
// whose checksums match, and calls a tail clean only when nothing but zeros follows.
func FuzzScanFrames(f *testing.F) {
	f.Add(appendFrame(nil, []byte(`{"a":1}`)))
	f.Add(append(appendFrame(nil, []byte(`{"a":1}`)), make([]byte, 40)...))
	f.Add(append(append(appendFrame(nil, []byte(`{"a":1}`)), make([]byte, 8)...), 'x'))
	f.Add([]byte{0, 0, 0, 3, 1, 2, 3, 4, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := int64(0)
		end, err := scanFrames(bytes.NewReader(data), 0, int64(len(data)), func(off int64, rec []byte) error {
			if off != next || crc32.Checksum(rec, castagnoli) != binary.BigEndian.Uint32(data[off+4:]) {
				t.Fatalf("frame at %d (expected %d) does not match its checksum", off, next)
			}
			next = off + frameOverhead + int64(len(rec))
			return nil
		})
		if end != next || end > int64(len(data)) {
			t.Fatalf("scan ended at %d, its last frame at %d, of %d bytes", end, next, len(data))
		}
		var torn *errTorn
		switch {
		case err == nil:
			if end != int64(len(data)) {
				t.Fatalf("clean scan stopped at %d of %d", end, len(data))
			}
		case !errors.As(err, &torn):
			t.Fatalf("scan of bytes in memory: %v", err)
		case torn.zeroTail && bytes.ContainsFunc(data[end:], func(r rune) bool { return r != 0 }):
			t.Fatalf("a tail with data after zeros was called clean: %x", data[end:])
		case !torn.zeroTail && !bytes.ContainsFunc(data[end:], func(r rune) bool { return r != 0 }):
			t.Fatalf("a tail of zeros was called damage: %v", torn)
		}
	})
}
