package audit

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFailedSyncRefusesItsWholeBatchAndNoneOfTheNext: a group commit whose sync fails
// refuses every request of its batch — none is answered as durable, none is in the log —
// and the next batch, once the disk syncs again, is accepted in full at the indices the
// refused one would have taken. The batch is made by holding the writer (in a checkpoint,
// behind ckptMu) while five appends queue; /dev/null stands for a disk whose writes
// succeed and whose fdatasync fails (EINVAL). A guard for the commit path that issue 16
// measured (docs/architecture.md, "The audit commit at low load"): any change to how
// waiters are answered must keep it.
func TestFailedSyncRefusesItsWholeBatchAndNoneOfTheNext(t *testing.T) {
	dir := t.TempDir()
	commits := make(chan int, 16)
	l := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour,
		OnCommit: func(records int, _ time.Duration) { commits <- records }})
	defer l.Close()
	ctx := context.Background()
	for i := range 3 {
		if _, err := l.Append(ctx, testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	restore := failSyncs(t, l)

	const n = 5
	results := holdWriterWhileQueued(t, l, n, 100)
	for i, err := range results {
		if err == nil {
			t.Fatalf("append %d of the batch whose sync failed was answered as durable", i)
		}
		if !strings.Contains(err.Error(), "fdatasync") {
			t.Fatalf("append %d refused for another reason than the sync: %v", i, err)
		}
	}
	if s := l.Stats(); s.Size != 3 || s.Failed != n || s.Failing == "" {
		t.Fatalf("after the failed batch: size %d, failed %d, failing %q; want 3, %d and the reason", s.Size, s.Failed, s.Failing, n)
	}

	restore() // the failed batch's answers came after the writer's last use of null
	for i, err := range holdWriterWhileQueued(t, l, n, 200) {
		if err != nil {
			t.Fatalf("append %d of the batch after the failed one refused: %v", i, err)
		}
	}
	for range 3 {
		<-commits // the first three appends, one by one
	}
	if got := <-commits; got != n || len(commits) != 0 {
		t.Fatalf("the batch after the failed one was committed as %d records and %d more commits, want one of %d", got, len(commits), n)
	}
	if s := l.Stats(); s.Size != 3+n || s.Failed != n || s.Failing != "" {
		t.Fatalf("after the next batch: size %d, failed %d, failing %q; want %d, %d, none", s.Size, s.Failed, s.Failing, 3+n, n)
	}
	for i := uint64(3); i < 3+n; i++ {
		b, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rec.RequestID, "req-2") {
			t.Fatalf("record %d is %s: a refused record took an index", i, rec.RequestID)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	re := openTestLog(t, dir, testSigner(t, "gw-1-audit"), Options{CheckpointInterval: time.Hour})
	defer re.Close()
	if re.Size() != 3+n {
		t.Fatalf("reopened with %d records, want %d", re.Size(), 3+n)
	}
}

// failSyncs makes the active segment's writes succeed and its fdatasync fail (EINVAL):
// /dev/null stands in for its file until restore. Call it while the writer is idle — after
// it answered the appends before, and before it reads the next — so the swap happens
// between its uses of the segment.
func failSyncs(t *testing.T, l *Log) (restore func()) {
	t.Helper()
	seg := l.segments[len(l.segments)-1]
	if l.grow != nil {
		t.Fatal("a background growth is running: the stand-in would race with it")
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { null.Close() })
	real := seg.f
	seg.f = null
	return func() { seg.f = real }
}

// holdWriterWhileQueued queues n appends (records from first) while the writer waits for
// ckptMu, so that it takes them as one batch, and returns their errors.
func holdWriterWhileQueued(t *testing.T, l *Log, n, first int) []error {
	t.Helper()
	errs := queueWhileWriterHeld(t, l, n, first)
	out := make([]error, n)
	for i := range out {
		out[i] = <-errs
	}
	return out
}
