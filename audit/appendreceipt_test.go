package audit

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/govgate/govgate/internal/race"
)

// TestAppendReceiptKeepsItsOwnLeaf: many goroutines append distinct records at once,
// each with AppendReceipt into a buffer it reuses, and each receipt must name its own
// record — the record at its index is the one that goroutine appended, and hashes to the
// receipt's leaf — and read the same after every other append is done. A leaf that were
// a view of the pooled request (reused by the next Append at once) or of a shared buffer
// fails here: another append's leaf shows through.
func TestAppendReceiptKeepsItsOwnLeaf(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{})
	defer l.Close()
	const workers, each = 16, 40
	type kept struct {
		receipt []byte // the bytes AppendReceipt returned, compared again at the end
		text    string // a copy taken at once
		id      string
	}
	got := make([][]kept, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var room []byte
			for i := range each {
				rec := testRecord(w*each + i)
				b, err := l.AppendReceipt(context.Background(), rec, room[:0])
				if err != nil {
					t.Error(err)
					return
				}
				got[w] = append(got[w], kept{receipt: b, text: string(b), id: rec.RequestID})
				room = make([]byte, 0, len(b)) // each kept receipt has bytes of its own
			}
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, ks := range got {
		for _, k := range ks {
			if string(k.receipt) != k.text {
				t.Fatalf("receipt changed after AppendReceipt returned: %s, then %s", k.text, k.receipt)
			}
			r, err := ParseReceipt(k.text)
			if err != nil {
				t.Fatal(err)
			}
			if seen[r.Index] {
				t.Fatalf("two receipts name record %d", r.Index)
			}
			seen[r.Index] = true
			b, err := l.Record(r.Index)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := ParseRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if rec.RequestID != k.id || r.Origin != testOrigin {
				t.Fatalf("receipt %s names %s's record, appended as %s", k.text, rec.RequestID, k.id)
			}
			if !bytes.Equal(Hasher{}.HashLeaf(b), r.Leaf) {
				t.Fatalf("receipt %s: the leaf is not its record's (%x)", k.text, Hasher{}.HashLeaf(b))
			}
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d receipts, want %d", len(seen), workers*each)
	}
	// Refused: a record that does not fit its kind is not written and gets no receipt.
	bad := testRecord(0)
	bad.Kind = "nonsense"
	if b, err := l.AppendReceipt(context.Background(), bad, []byte("kept")); err == nil || string(b) != "kept" {
		t.Fatalf("a record of no kind: receipt %q, error %v", b, err)
	}
}

// TestAppendReceiptIsAppendsReceipt: AppendReceipt writes byte for byte what Append's
// Receipt writes (the X-Govgate-Receipt contract), after what dst held.
func TestAppendReceiptIsAppendsReceipt(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{})
	defer l.Close()
	r, err := l.Append(context.Background(), testRecord(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.AppendReceipt(context.Background(), testRecord(1), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := l.Record(r.Index + 1)
	if err != nil {
		t.Fatal(err)
	}
	want := "x" + Receipt{Origin: r.Origin, Index: r.Index + 1, Leaf: Hasher{}.HashLeaf(stored)}.String()
	if string(b) != want {
		t.Fatalf("AppendReceipt wrote %q, want %q", b, want)
	}
}

// TestAppendReceiptAllocations bounds what one AppendReceipt allocates once the log and
// the caller's buffer are warm: the writer's share of a batch of one (SM3's Sum or a
// tree node; 1 measured), nothing for the receipt. Append allocates one more, its
// Receipt's leaf. A receipt whose leaf or text is allocated again, or a leaf block per
// batch again, fails.
func TestAppendReceiptAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector (sync.Pool drops items at random)")
	}
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{})
	defer l.Close()
	rec := testRecord(1)
	ctx := context.Background()
	var room []byte
	appendReceipt := func() {
		var err error
		if room, err = l.AppendReceipt(ctx, rec, room[:0]); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		appendReceipt()
	}
	allocs := testing.AllocsPerRun(200, appendReceipt)
	t.Logf("AppendReceipt: %.1f allocations per record", allocs)
	if allocs > 1.5 {
		t.Fatalf("AppendReceipt allocates %.1f times per record; want at most 1.5", allocs)
	}
}
