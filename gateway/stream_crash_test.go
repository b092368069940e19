package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// crashChildEnv names the audit directory of the gateway TestStreamCrashChild runs in a
// process of its own, for TestStreamCrashLeavesNoReceiptForBytesNotSent to kill.
const crashChildEnv = "GOVGATE_STREAM_CRASH_DIR"

// TestStreamCrashChild is the gateway process the crash test kills: a real audit log in
// the directory the environment names, exchange routes to a provider whose small.csv is
// two blocks and whose big.csv is a gigabyte. It prints its address and waits.
func TestStreamCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("the gateway process TestStreamCrashLeavesNoReceiptForBytesNotSent starts and kills")
	}
	block, _ := registrationBlock(64 << 10)
	small, big := bulkProvider("text/csv", block, 2), bulkProvider("text/csv", block, 1<<14)
	provider := func(ctx *fasthttp.RequestCtx) bool {
		if bytes.Contains(ctx.Path(), []byte("small")) {
			return small(ctx)
		}
		return big(ctx)
	}
	var l *audit.Log
	g := startPolicyGateway(t, 0, provider, withStreamRoutes(1<<40), withAuditLog(t, dir, &l))
	os.Stdout.WriteString("gateway " + g.base + "\n")
	time.Sleep(2 * time.Minute) // killed long before, unless the parent died first
}

// TestStreamCrashLeavesNoReceiptForBytesNotSent: a gateway killed (SIGKILL) in the middle
// of a streamed transfer leaves the consumer without a receipt trailer (its tools see an
// incomplete transfer), and its log — opened again — holds either a record of that transfer
// as partial or none, never one that says it completed; the record of a transfer that did
// complete before the crash, whose receipt the consumer holds, survives it; the log
// verifies.
func TestStreamCrashLeavesNoReceiptForBytesNotSent(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a gateway process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamCrashChild$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := childAddress(t, stdout)

	// A whole transfer before the crash: its receipt is the consumer's.
	whole := getStream(t, base+"/ent/small.csv", exchanger)
	receipt := whole.trailer.Get(wire.HeaderReceipt)
	if whole.status != 200 || whole.err != nil || receipt == "" || len(whole.body) == 0 {
		t.Fatalf("whole transfer: %d, %d bytes, %v, receipt %q", whole.status, len(whole.body), whole.err, receipt)
	}

	// A transfer cut by the gateway's death after some megabytes.
	req, _ := newGet(base+"/ent/big.csv", exchanger)
	resp, err := (&http.Client{}).Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("big transfer: %v", err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 4<<20); err != nil {
		t.Fatalf("the first 4 MiB: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("the transfer ended cleanly after %d more bytes although the gateway was killed", n)
	}
	if r := resp.Trailer.Get(wire.HeaderReceipt); r != "" {
		t.Errorf("a receipt for a transfer the gateway died in: %q", r)
	}

	// The log after the crash.
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewNoteSigner("gw-test-audit", key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate/gw-test", Signer: signer, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatalf("reopen the log after the crash: %v", err)
	}
	if rec := recordOf(t, l, receipt); rec.Transfer == nil || rec.Transfer.Outcome != "completed" {
		t.Errorf("the acknowledged transfer's record after the crash: %+v", rec.Transfer)
	}
	partial := 0
	for i := uint64(0); i < l.Size(); i++ {
		b, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := audit.ParseRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if strings.Contains(rec.Path, "big.csv") {
			partial++
			if rec.Transfer == nil || rec.Transfer.Outcome == "completed" {
				t.Errorf("the killed transfer is on the record as %+v", rec.Transfer)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	keys, err := audit.LoadKeySet(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(dir, keys)
	if err != nil {
		t.Fatalf("the log after the crash does not verify: %v", err)
	}
	t.Logf("killed after 4 MiB of the big transfer: %d records verified, %d of the killed transfer", rep.Records, partial)
}

// childAddress reads the gateway's address from the child's first lines.
func childAddress(t *testing.T, stdout io.Reader) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "gateway "); ok {
				addr <- a
				io.Copy(io.Discard, stdout)
				return
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("the gateway process ended without starting")
		}
		return a
	case <-ctx.Done():
		t.Fatal("the gateway process did not start in 2 minutes")
	}
	return ""
}
