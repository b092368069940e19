package audit

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
)

// TestReviewLeafBlocksStayTheirLeaves attacks the leaf hashes carved from blocks of
// leafBlock: appends from many goroutines in batches of every size (many over a block,
// none aligned to one), checkpoints signed in the background every few milliseconds
// while they run, segments rotated every few KiB, then a close, a reopen (the tree
// rebuilt from the records) and more appends. Every checkpoint seen along the way must
// stay consistent with the last one, its root must be the log's root of its size again
// at the end, and every receipt must verify against the last checkpoint. A leaf the
// range or a checkpoint's root still pointed to, written over by a later batch, gives
// a root no record hashes to: an inconsistent checkpoint or a receipt that does not
// verify. Refused: a proof of one record for another's leaf.
func TestReviewLeafBlocksStayTheirLeaves(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, "gw-1-audit")
	opts := Options{SegmentBytes: 8 << 10, CheckpointInterval: 2 * time.Millisecond, MaxBatch: 300}
	l := openTestLog(t, dir, s, opts)
	var mu sync.Mutex
	receipts := map[uint64][]byte{} // index → the receipt text AppendReceipt wrote
	var ckpts []*SignedCheckpoint
	run := func(l *Log, from, n, workers int) {
		stop := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for {
				if c := l.Checkpoint(); c != nil && (len(ckpts) == 0 || ckpts[len(ckpts)-1].Size != c.Size) {
					ckpts = append(ckpts, c)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var room []byte
				for i := from + w; i < from+n; i += workers {
					b, err := l.AppendReceipt(context.Background(), testRecord(i), room[:0])
					if err != nil {
						t.Error(err)
						return
					}
					r, err := ParseReceipt(string(b))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					receipts[r.Index] = bytes.Clone(b)
					mu.Unlock()
					room = b // reused: the next receipt is written over this one
				}
			}()
		}
		wg.Wait()
		close(stop)
		<-watched
	}
	run(l, 0, 1500, 48)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, s, opts)
	defer l.Close()
	run(l, 1500, 700, 24)
	waitForCheckpoint(t, l, 2200)
	last := l.Checkpoint()
	if len(ckpts) < 3 {
		t.Fatalf("only %d checkpoints seen while appending", len(ckpts))
	}
	for _, c := range ckpts {
		root, err := l.Root(c.Size)
		if err != nil || !bytes.Equal(root, c.Root) {
			t.Fatalf("checkpoint of size %d: the log's root of that size is now %x (%v), the checkpoint said %x", c.Size, root, err, c.Root)
		}
		cp, err := l.ConsistencyProof(c.Size, last.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(Hasher{}, c.Size, last.Size, cp, c.Root, last.Root); err != nil {
			t.Fatalf("checkpoint %d is not consistent with checkpoint %d: %v", c.Size, last.Size, err)
		}
	}
	if len(receipts) != 2200 {
		t.Fatalf("%d receipts, want 2200", len(receipts))
	}
	for index, text := range receipts {
		r, err := ParseReceipt(string(text))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := l.Record(index)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(Hasher{}.HashLeaf(rec), r.Leaf) {
			t.Fatalf("receipt %s: the leaf is not record %d's", text, index)
		}
		p, err := l.InclusionProof(index, last.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyReceipt(r, last, p); err != nil {
			t.Fatalf("receipt %s: %v", text, err)
		}
		other := receipts[(index+1)%last.Size]
		o, _ := ParseReceipt(string(other))
		r.Leaf = o.Leaf
		if VerifyReceipt(r, last, p) == nil {
			t.Fatalf("the proof of record %d verified record %d's leaf", index, o.Index)
		}
	}
	l.Close()
	rep, err := Verify(dir, loadKeys(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 2200 || rep.LastCheckpoint != 2200 {
		t.Fatalf("verify: %+v", rep)
	}
}

// waitForCheckpoint waits until l has signed a checkpoint of size.
func waitForCheckpoint(t *testing.T, l *Log, size uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c := l.Checkpoint(); c == nil || c.Size != size; c = l.Checkpoint() {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size %d: %+v", size, c)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReviewRecordPastTheEndWhileAppending: an operator asks for records the log does
// not have yet (GET /audit/records/N) while appends run. The answer is a clear error
// naming the log's size, and — under the race detector, where this test is meant to run
// — no data race: the error read l.size after releasing mu, against the writer that
// sets it (found by the gateway's TestReviewConcurrentRecordsAndReceiptsAreTheirOwn
// under -race). Refused: a record past the end.
func TestReviewRecordPastTheEndWhileAppending(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testSigner(t, "k"), Options{})
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		appendN(t, l, 300, 8)
	}()
	asked := 0
	for {
		select {
		case <-done:
			if asked == 0 {
				t.Fatal("no record asked for while appending")
			}
			if _, err := l.Record(300); err == nil || !strings.Contains(err.Error(), "the log has 300 records") {
				t.Fatalf("record 300 of 300: %v", err)
			}
			return
		default:
		}
		if b, err := l.Record(1 << 20); err == nil || b != nil {
			t.Fatalf("a record past the end: %q %v", b, err)
		}
		asked++
	}
}
