package audit

import (
	"path/filepath"
	"testing"
	"time"
)

func TestRetentionAndExport(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, "gw-1-audit")
	l := openTestLog(t, dir, s, Options{SegmentBytes: 8 << 10, Retention: 180 * 24 * time.Hour})
	appendN(t, l, 300, 4)
	l.Close() // a checkpoint covering everything

	// An export of every record (the close signed a checkpoint of them all) verifies on
	// its own.
	out := filepath.Join(t.TempDir(), "export")
	ex, err := Export(dir, out)
	if err != nil {
		t.Fatal(err)
	}
	if ex.First != 0 || ex.End != 300 {
		t.Fatalf("exported [%d, %d)", ex.First, ex.End)
	}
	rep, err := Verify(out, keptApart(t, dir))
	if err != nil {
		t.Fatalf("export does not verify: %v", err)
	}
	if rep.Records != ex.End {
		t.Errorf("export verified %d records, want %d", rep.Records, ex.End)
	}

	l = openTestLog(t, dir, s, Options{SegmentBytes: 8 << 10, Retention: 180 * 24 * time.Hour})
	segsBefore := len(l.segments)
	l.prune(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) // too early: nothing goes
	if len(l.segments) != segsBefore {
		t.Fatal("pruned records younger than the retention")
	}
	l.prune(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC))
	if len(l.segments) != 1 {
		t.Fatalf("%d segments left, want only the active one", len(l.segments))
	}
	kept := l.segments[0].first
	if _, err := l.Record(0); err == nil {
		t.Error("a removed record was read")
	}
	if _, err := l.InclusionProof(0, 300); err != nil {
		t.Errorf("a removed record is no longer provable: %v", err)
	}
	appendN(t, l, 20, 2)
	l.Close()
	rep, err = Verify(dir, loadKeys(t, dir))
	if err != nil {
		t.Fatalf("pruned log does not verify: %v", err)
	}
	if rep.First != kept || rep.First+rep.Records != 320 {
		t.Errorf("verified [%d, %d), want [%d, 320)", rep.First, rep.First+rep.Records, kept)
	}

	// An export of the pruned log begins where the log now begins, verifies from the
	// segment's start state, and its records prove from the tree it ships.
	out = filepath.Join(t.TempDir(), "export-pruned")
	if ex, err = Export(dir, out); err != nil {
		t.Fatal(err)
	}
	if ex.First != kept || ex.End != 320 {
		t.Fatalf("exported [%d, %d), want [%d, 320)", ex.First, ex.End, kept)
	}
	keys := keptApart(t, dir)
	if rep, err := Verify(out, keys); err != nil || rep.First != kept || rep.LastCheckpoint != 320 {
		t.Fatalf("pruned export: %+v %v", rep, err)
	}
	c, err := LatestCheckpoint(out, keys)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ReadRecord(out, 319)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := Prove(out, 319, c.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyReceipt(Receipt{Origin: c.Origin, Index: 319, Leaf: Hasher{}.HashLeaf(rec)}, c, hashes); err != nil {
		t.Errorf("a record of the pruned export: %v", err)
	}
}
