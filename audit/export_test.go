package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keptApart copies the live log's key set out of it, as an auditor keeps it: an export's
// own keys.json is never what it is checked against.
func keptApart(t *testing.T, dir string) *KeySet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trusted-keys.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := LoadKeySet(p)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// proveAll proves every record of the export against its latest checkpoint, offline.
func proveAll(t *testing.T, out string, keys *KeySet, size uint64) {
	t.Helper()
	c, err := LatestCheckpoint(out, keys)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != size {
		t.Fatalf("the export's latest checkpoint covers %d records, want %d", c.Size, size)
	}
	for i := range size {
		rec, err := ReadRecord(out, i)
		if err != nil {
			t.Fatal(err)
		}
		hashes, err := Prove(out, i, c.Size)
		if err != nil {
			t.Fatalf("prove %d: %v", i, err)
		}
		if err := VerifyReceipt(Receipt{Origin: c.Origin, Index: i, Leaf: Hasher{}.HashLeaf(rec)}, c, hashes); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// TestExportUnsealedLog: with the default 64 MiB segments no segment ever seals in a
// test, and the export still holds every record, with a checkpoint covering every one of
// them, and verifies and proves alone. Run inside the gateway (Log.Export) it signs a
// fresh checkpoint; run beside it (Export) it stops at the latest checkpoint — the records
// after it are left out, not exported unprovable.
func TestExportUnsealedLog(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{CheckpointInterval: time.Hour})
	defer l.Close()
	appendN(t, l, 50, 4)
	keys := keptApart(t, dir)

	out := filepath.Join(t.TempDir(), "export")
	ex, err := l.Export(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if ex.First != 0 || ex.End != 50 || ex.Checkpoint.Size != 50 {
		t.Fatalf("exported [%d, %d) with checkpoint %d, want [0, 50) with 50", ex.First, ex.End, ex.Checkpoint.Size)
	}
	rep, err := Verify(out, keys)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 50 || rep.LastCheckpoint != 50 || rep.UncoveredRecord != 0 {
		t.Errorf("export verifies %+v, want 50 records all covered", rep)
	}
	proveAll(t, out, keys, 50)

	// Beside a running gateway: 10 more records, no checkpoint yet for them.
	appendN(t, l, 10, 2)
	out2 := filepath.Join(t.TempDir(), "export")
	ex, err = Export(dir, out2)
	if err != nil {
		t.Fatal(err)
	}
	if ex.End != 50 {
		t.Errorf("a separate export took records up to %d, want the latest checkpoint's 50", ex.End)
	}
	if rep, err := Verify(out2, keys); err != nil || rep.Records != 50 || rep.UncoveredRecord != 0 {
		t.Errorf("export beside the gateway: %+v %v", rep, err)
	}
	// The live segment's zeros and the records after the checkpoint stayed behind.
	seg, _ := os.ReadFile(filepath.Join(out2, "segments", segmentName(0)))
	live, _ := os.ReadFile(filepath.Join(dir, "segments", segmentName(0)))
	if len(seg) >= len(live) || !bytes.Equal(seg, live[:len(seg)]) {
		t.Errorf("exported segment: %d bytes, not a prefix of the live one's %d", len(seg), len(live))
	}
}

// TestExportAcrossSegments: sealed segments and the active one, cut at the checkpoint,
// with the start states; every record proves offline against the export's checkpoint.
func TestExportAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{CheckpointInterval: time.Hour, SegmentBytes: 4096})
	defer l.Close()
	appendN(t, l, 120, 3)
	out := filepath.Join(t.TempDir(), "export")
	ex, err := l.Export(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(filepath.Join(out, "segments"))
	if ex.End != 120 || len(segs) < 3 {
		t.Fatalf("exported %d records in %d segments", ex.End, len(segs))
	}
	keys := keptApart(t, dir)
	if rep, err := Verify(out, keys); err != nil || rep.Records != 120 || rep.LastCheckpoint != 120 {
		t.Fatalf("export: %+v %v", rep, err)
	}
	proveAll(t, out, keys, 120)
}

// TestExportRefusals: a careless operator cannot export over files already there, nor a
// log without any checkpoint (nothing could prove it), and a tampered export is caught.
func TestExportRefusals(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{CheckpointInterval: time.Hour})
	appendN(t, l, 5, 1)
	if _, err := Export(dir, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "no checkpoint yet") {
		t.Errorf("export before any checkpoint: %v", err)
	}
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("mine"), 0o600)
	if _, err := l.Export(context.Background(), busy); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("export into a non-empty directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(busy, "notes.txt")); string(b) != "mine" {
		t.Error("the export touched a file already there")
	}
	l.Close()
	if _, err := l.Export(context.Background(), filepath.Join(t.TempDir(), "y")); !errors.Is(err, ErrClosed) {
		t.Errorf("export of a closed log: %v", err)
	}

	out := filepath.Join(t.TempDir(), "export")
	if _, err := Export(dir, out); err != nil { // Close signed the last checkpoint
		t.Fatal(err)
	}
	keys := keptApart(t, dir)
	// A hostile holder of the export changes one record and the tree's leaf for it.
	seg := filepath.Join(out, "segments", segmentName(0))
	b, _ := os.ReadFile(seg)
	i := bytes.Index(b, []byte(`"req-3"`))
	b[i+5] = '9'
	os.WriteFile(seg, b, 0o600)
	if _, err := Verify(out, keys); err == nil {
		t.Error("a changed record in an export verifies")
	}
	// A forged tree gives a proof that does not verify, never a false one.
	out2 := filepath.Join(t.TempDir(), "export")
	if _, err := Export(dir, out2); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(out2, "tree.hashes")
	tb, _ := os.ReadFile(tree)
	tb[0] ^= 1
	os.WriteFile(tree, tb, 0o600)
	c, _ := LatestCheckpoint(out2, keys)
	rec, _ := ReadRecord(out2, 1)
	hashes, err := Prove(out2, 1, c.Size)
	if err == nil {
		err = VerifyReceipt(Receipt{Origin: c.Origin, Index: 1, Leaf: Hasher{}.HashLeaf(rec)}, c, hashes)
	}
	if err == nil {
		t.Error("a proof from a forged tree verifies")
	}
}

// TestProveWithoutTreeHashes: an export without tree.hashes (made before exports shipped
// it) proves from its records, the same proof the stored tree gives; one whose records do
// not begin at 0 is refused rather than proved from a part of the tree.
func TestProveWithoutTreeHashes(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{CheckpointInterval: time.Hour, SegmentBytes: 4096})
	appendN(t, l, 37, 1)
	l.Close()
	out := filepath.Join(t.TempDir(), "export")
	if _, err := Export(dir, out); err != nil {
		t.Fatal(err)
	}
	var want [][][]byte
	for i := range uint64(37) {
		h, err := Prove(out, i, 37)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, h)
	}
	os.Remove(filepath.Join(out, "tree.hashes"))
	for i := range uint64(37) {
		h, err := Prove(out, i, 37)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != len(want[i]) {
			t.Fatalf("record %d: %d hashes from the records, %d from the tree", i, len(h), len(want[i]))
		}
		for k := range h {
			if !bytes.Equal(h[k], want[i][k]) {
				t.Fatalf("record %d: hash %d differs", i, k)
			}
		}
	}
	proveAll(t, out, keptApart(t, dir), 37)
	segs, _ := listSegments(filepath.Join(out, "segments"))
	os.Remove(filepath.Join(out, "segments", segmentName(segs[0])))
	if _, err := Prove(out, 36, 37); err == nil || !strings.Contains(err.Error(), "every record from 0") {
		t.Errorf("proof without the first records: %v", err)
	}
}

// TestExportForgedCheckpoint: someone who can write the live log appends a checkpoint of
// a smaller size signed with a key of their own. The export still takes every record the
// gateway's largest checkpoint covers, carries the forged note, and verifying the export
// against the kept-apart keys reports it.
func TestExportForgedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{CheckpointInterval: time.Hour})
	appendN(t, l, 20, 1)
	l.Close()
	forger := testSigner(t, testOrigin)
	forged, err := forger.Sign(Checkpoint{Origin: testOrigin, Size: 5, Root: make([]byte, HashSize)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "checkpoints"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(appendFrame(nil, forged.Note))
	f.Close()

	out := filepath.Join(t.TempDir(), "export")
	ex, err := Export(dir, out)
	if err != nil {
		t.Fatal(err)
	}
	if ex.End != 20 {
		t.Errorf("a forged smaller checkpoint cut the export to %d records", ex.End)
	}
	rep, err := Verify(out, keptApart(t, dir))
	if err == nil || rep == nil || len(rep.Faults) != 1 || rep.Faults[0].Checkpoint != 1 || rep.Records != 20 {
		t.Errorf("verify of the export with a forged checkpoint: %v %+v", err, rep)
	}
}
