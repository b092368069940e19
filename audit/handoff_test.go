package audit

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/govgate/govgate/internal/race"
)

// TestPrehashedFrame: the frame the writer builds from a record hashed before the
// hand-off is byte for byte the frame of the whole record, and its leaf hash is
// Hasher.HashLeaf of the stored bytes — for short and long heads and tails (a signed
// record's tail holds its signature base), and indices of every width. A writer that
// hashed only the head, or the tail twice, or framed the CRC over the head alone fails.
func TestPrehashedFrame(t *testing.T) {
	l := &Log{}
	signed := testRecord(7)
	signed.Signature = &Signature{Base: string(bytes.Repeat([]byte("b"), 700)), Input: "sig1=()", Signature: "c2ln"}
	long := testRecord(8)
	long.Path = "/tax/v1/x?q=" + string(bytes.Repeat([]byte("p"), 3000))
	for _, rec := range []*Record{testRecord(1), signed, long} {
		for _, seq := range []uint64{0, 9, 10, 123456789, 1<<64 - 1} {
			req := l.newRequest(rec)
			b := *req.buf
			got := appendPrehashedFrame([]byte("prefix"), req, b[:req.split], seq, b[req.split:])
			want, whole := appendRecordFrame([]byte("prefix"), b[:req.split], seq, b[req.split:])
			if !bytes.Equal(got, want) {
				t.Fatalf("record %s seq %d: prehashed frame differs from the whole record's", rec.RequestID, seq)
			}
			if leaf := (Hasher{}).HashLeaf(whole); !bytes.Equal(req.sum[:], leaf) {
				t.Fatalf("record %s seq %d: leaf %x, want HashLeaf of the stored bytes %x", rec.RequestID, seq, req.sum, leaf)
			}
			rec.Seq = seq
			if !bytes.Equal(whole, rec.Encode()) {
				t.Fatalf("record %s seq %d: framed bytes are not the record's canonical encoding", rec.RequestID, seq)
			}
			l.releaseBuffer(req)
		}
	}
}

// TestAppendHandOffAllocations bounds what one Append allocates once the log is warm:
// its request, encoding buffer and hash state are reused, so what is left is the
// receipt's leaf and the writer's share of a batch (tree nodes, SM3's Sum). A change
// that allocates a hash state or an encoding buffer per record fails.
func TestAppendHandOffAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items at random)")
	}
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{})
	defer l.Close()
	rec := testRecord(1)
	ctx := context.Background()
	for range 50 {
		if _, err := l.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := l.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
	})
	// One batch of one record: the receipt's leaf, SM3's Sum or a tree node; 2
	// measured (6 before the time was formatted in place and the batch's slices and node
	// buffer reused, 3 before leaf hashes were carved from a block of leafBlock).
	if allocs > 2.5 {
		t.Fatalf("Append allocates %.1f times per record; want at most 2.5", allocs)
	}
	t.Logf("Append: %.1f allocations per record", allocs)
}

// TestBackgroundGrowthKeepsEveryRecord: appends from many goroutines across several
// growth steps — zeros written beside the commits — leave every acknowledged record
// readable with its receipt's leaf after a reopen, no zeros inside the records, and a
// closed segment cut back to its last record. A growth that zeroed over a record written
// meanwhile, or that left the room unsynced, fails here or in the crash test.
func TestBackgroundGrowthKeepsEveryRecord(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, "k")
	l := openTestLog(t, dir, s, Options{})
	n := 3 * segmentGrowth / 500 // records of ~600 bytes: several growth steps
	receipts := appendN(t, l, n, 16)
	seg := l.segments[len(l.segments)-1]
	if seg.alloc <= seg.end {
		t.Fatalf("active segment has no room grown ahead: end %d alloc %d", seg.end, seg.alloc)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != seg.end {
		t.Fatalf("closed segment is %d bytes, its records end at %d", info.Size(), seg.end)
	}
	l = openTestLog(t, dir, s, Options{})
	defer l.Close()
	if l.Size() != uint64(n) {
		t.Fatalf("reopened log has %d records, want %d", l.Size(), n)
	}
	for i := range uint64(n) {
		rec, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(Hasher{}.HashLeaf(rec), receipts[i].Leaf) {
			t.Fatalf("record %d does not hash to its receipt's leaf", i)
		}
	}
}
