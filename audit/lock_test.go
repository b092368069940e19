package audit

import (
	"errors"
	"testing"
)

// TestSecondWriterRefused: a careless operator starts a second gateway (or a restart
// overlaps the old process) on the same audit directory. Two writers would each append at
// their own idea of the end, overwrite each other's records and hand out receipts for
// records the log no longer holds. The second Open is refused while the first holds the
// log, and succeeds once it is closed; a refused Open leaves the first writer working.
func TestSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	s := testSigner(t, "lock-audit")
	first := openTestLog(t, dir, s, Options{})
	appendN(t, first, 10, 2)

	second, err := Open(Options{Dir: dir, Origin: testOrigin, Signer: s})
	if err == nil {
		second.Close()
		t.Fatal("a second writer opened a log another holds")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	appendN(t, first, 10, 2)
	if first.Size() != 20 {
		t.Fatalf("first writer holds %d records after the refused open, want 20", first.Size())
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	again := openTestLog(t, dir, s, Options{})
	defer again.Close()
	if again.Size() != 20 {
		t.Fatalf("reopened with %d records, want 20", again.Size())
	}
}

// TestFailedOpenReleasesTheLock: an Open refused after it took the lock (here: no
// signer) does not leave the directory locked for the next one.
func TestFailedOpenReleasesTheLock(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(Options{Dir: dir, Origin: testOrigin}); err == nil {
		t.Fatal("opened without a signer")
	}
	l := openTestLog(t, dir, testSigner(t, "lock-audit"), Options{})
	l.Close()
}
