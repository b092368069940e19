package assemble

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/govgate/govgate/audit"
)

// TestSecondGatewayOnOneAuditLogRefused: a careless operator starts a second gateway with
// the same config (another port, an overlapping restart). Its build is refused at the
// audit log, which the first holds, and releases everything it had built (no watcher,
// no committer left running); the first gateway's log is untouched; once the first is
// closed the same config builds again — a failed or closed build leaves no lock behind.
func TestSecondGatewayOnOneAuditLogRefused(t *testing.T) {
	p := newTestPKI(t)
	cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), "127.0.0.1:1")
	first, err := Build(t.Context(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		second, err := Build(t.Context(), cfg, Options{Logger: quiet})
		if err == nil {
			second.Close()
			t.Fatal("a second gateway was built on an audit log the first holds")
		}
		if !errors.Is(err, audit.ErrLocked) {
			t.Fatalf("second build: %v, want audit.ErrLocked", err)
		}
	}()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Build(t.Context(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("build after the first gateway closed: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}
