package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
)

// TestAuditVerifyReportsEveryFault: govgate audit verify prints every fault with its
// index, then the total, and exits 1 — a byte flipped after an earlier fault is still
// reported; an untouched log exits 0.
func TestAuditVerifyReportsEveryFault(t *testing.T) {
	dir := t.TempDir()
	l := auditTestLog(t, dir, auditTestSigner(t))
	for i := range 200 {
		r := &audit.Record{Kind: audit.KindExchange, Route: "r", Provider: "p", Resource: "res", Time: time.Unix(1796000000, 0), Gateway: "gw-1", RequestID: fmt.Sprintf("req-%d-", i), Method: "GET", Path: "/x", Status: 200, Fields: []string{}}
		if _, err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	keys := filepath.Join(dir, "keys.json")
	if code, out, errOut := runCmd(t, "audit", "verify", dir, "--keys", keys); code != 0 || !strings.HasPrefix(out, "ok: 200 records (indexes 0–199)") {
		t.Fatalf("untouched log: %d %s %s", code, out, errOut)
	}

	seg := filepath.Join(dir, "segments", fmt.Sprintf("%020d.seg", 0))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{`"req-73-"`, `"req-150-"`} {
		i := bytes.Index(b, []byte(id))
		b[i+2] ^= 0x01 // one byte of the record, its checksum left as it was
	}
	os.WriteFile(seg, b, 0o600)
	code, out, errOut := runCmd(t, "audit", "verify", dir, "--keys", keys)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	for _, want := range []string{"FAULT record 73: ", "FAULT record 150: ", "2 faults in 200 records (indexes 0–199)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if strings.HasPrefix(out, "ok") {
		t.Errorf("a faulty log reported ok:\n%s", out)
	}
}
