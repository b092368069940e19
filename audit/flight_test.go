package audit

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// heldSync stands in for a segment's fdatasync: each call waits for the test to say how
// it ends, or for release (a failed test must still close its log).
type heldSync struct {
	calls   chan chan error
	release chan struct{}
}

func newHeldSync() *heldSync {
	return &heldSync{calls: make(chan chan error), release: make(chan struct{})}
}

func (h *heldSync) sync(*os.File) error {
	answer := make(chan error, 1)
	select {
	case h.calls <- answer:
	case <-h.release:
		return nil
	}
	select {
	case err := <-answer:
		return err
	case <-h.release:
		return nil
	}
}

// next is the next sync the writer began, or a failure if none begins in time.
func (h *heldSync) next(t *testing.T, what string) chan error {
	t.Helper()
	select {
	case c := <-h.calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatalf("no fdatasync began for %s", what)
		return nil
	}
}

type appended struct {
	r   Receipt
	err error
}

func appendAsync(l *Log, i int) chan appended {
	out := make(chan appended, 1)
	go func() {
		r, err := l.Append(context.Background(), testRecord(i))
		out <- appended{r, err}
	}()
	return out
}

// appendSyncing appends record i, letting every sync it causes succeed.
func appendSyncing(t *testing.T, l *Log, h *heldSync, i int) Receipt {
	t.Helper()
	done := appendAsync(l, i)
	for {
		select {
		case c := <-h.calls:
			c <- nil
		case a := <-done:
			if a.err != nil {
				t.Fatal(a.err)
			}
			return a.r
		}
	}
}

// TestSecondCommitBesideASlowSync: a record that arrives while a commit's fdatasync is
// slow starts its own commit at once (it does not wait for the first to end), and yet is
// not acknowledged before the first is durable; when the first's sync fails, the second
// is refused too although its own sync succeeded (Linux reports a writeback error to one
// fdatasync only), neither takes an index, and the log goes on and verifies. With one
// commit in flight at a time the second sync never begins while the first is held.
func TestSecondCommitBesideASlowSync(t *testing.T) {
	dir := t.TempDir()
	h := newHeldSync()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour, syncData: h.sync})
	defer l.Close()
	defer close(h.release)    // before the close: a held sync would keep it waiting
	appendSyncing(t, l, h, 0) // grows the segment: later commits sync through h
	appendSyncing(t, l, h, 1)
	size := l.Size()

	a := appendAsync(l, 2)
	first := h.next(t, "the first record")
	b := appendAsync(l, 3)
	second := h.next(t, "a record arriving while the first commit's sync is held")
	second <- nil
	select {
	case got := <-b:
		t.Fatalf("the second record was answered (%+v) before the first was durable", got)
	case <-time.After(200 * time.Millisecond):
	}
	if l.Size() != size {
		t.Fatalf("the log counts %d records while the first commit is not durable; want %d", l.Size(), size)
	}
	first <- &os.PathError{Op: "fdatasync", Path: "segment", Err: syscall.EIO}
	for name, ch := range map[string]chan appended{"first": a, "second": b} {
		if got := <-ch; got.err == nil || !errors.Is(got.err, syscall.EIO) {
			t.Errorf("the %s record after the first sync failed: %+v, want the sync's error", name, got)
		}
	}
	if l.Size() != size {
		t.Fatalf("the log has %d records after the failed commits; want %d", l.Size(), size)
	}
	c := appendSyncing(t, l, h, 4)
	if c.Index != size {
		t.Fatalf("the next record has index %d; want %d (the refused ones took none)", c.Index, size)
	}
	l.Close()

	l2 := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{})
	defer l2.Close()
	if l2.Size() != size+1 {
		t.Fatalf("reopened with %d records; want %d", l2.Size(), size+1)
	}
	rec, err := l2.Record(c.Index)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(Hasher{}.HashLeaf(rec)) != hex.EncodeToString(c.Leaf) {
		t.Fatal("the record after the failure differs from the one acknowledged")
	}
	l2.Close()
	rep, err := Verify(dir, loadKeys(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != size+1 {
		t.Errorf("verified %d records; want %d", rep.Records, size+1)
	}
}

// TestLaterCommitFailsAloneAfterADurableOne: when the first of two commits in flight is
// durable and the second's sync fails, the first is acknowledged and the second refused,
// and the segment ends at the first's records.
func TestLaterCommitFailsAloneAfterADurableOne(t *testing.T) {
	dir := t.TempDir()
	h := newHeldSync()
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour, syncData: h.sync})
	defer l.Close()
	defer close(h.release) // before the close: a held sync would keep it waiting
	appendSyncing(t, l, h, 0)
	size := l.Size()
	a := appendAsync(l, 1)
	first := h.next(t, "the first record")
	b := appendAsync(l, 2)
	second := h.next(t, "the second record")
	second <- &os.PathError{Op: "fdatasync", Path: "segment", Err: syscall.EIO}
	first <- nil
	if got := <-a; got.err != nil || got.r.Index != size {
		t.Fatalf("the durable first record: %+v, want index %d", got, size)
	}
	if got := <-b; got.err == nil {
		t.Fatalf("the second record was acknowledged although its sync failed: %+v", got)
	}
	if l.Size() != size+1 {
		t.Fatalf("the log has %d records; want %d", l.Size(), size+1)
	}
	c := appendSyncing(t, l, h, 3)
	if c.Index != size+1 {
		t.Fatalf("the next record has index %d; want %d", c.Index, size+1)
	}
	l.Close()
	rep, err := Verify(dir, loadKeys(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != size+2 {
		t.Errorf("verified %d records; want %d", rep.Records, size+2)
	}
}
