package audit

import (
	"bytes"
	"context"
	"testing"
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
// receipt's leaf and the writer's share of a batch (tree nodes, leaf block). A change
// that allocates a hash state or an encoding buffer per record fails.
func TestAppendHandOffAllocations(t *testing.T) {
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
	// One batch of one record: the receipt's leaf, the batch's leaf block, and a tree
	// node now and then; 3 measured (5 before the batch's slices and node buffer were
	// reused).
	if allocs > 3.5 {
		t.Fatalf("Append allocates %.1f times per record; want at most 3.5", allocs)
	}
	t.Logf("Append: %.1f allocations per record", allocs)
}
