package gateway_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/record"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
)

// withAuditLog gives the gateway a real audit log in dir.
func withAuditLog(t testing.TB, dir string, l **audit.Log) func(string, *gatewaySetup) {
	return func(_ string, s *gatewaySetup) {
		stage := openAuditStage(t, dir, 100*time.Millisecond)
		s.auditor, s.admin, s.metrics = stage, stage.AdminHandlers(), []prometheus.Collector{stage.Collector()}
		*l = stage.Log
	}
}

// openAuditStage is the real audit stage on a log in dir, closed when t ends.
func openAuditStage(t testing.TB, dir string, checkpoints time.Duration) *record.AuditStage {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewNoteSigner("gw-test-audit", key)
	if err != nil {
		t.Fatal(err)
	}
	stage := &record.AuditStage{GatewayID: "gw-test"}
	log, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate/gw-test", Signer: signer, SegmentBytes: 64 << 10,
		CheckpointInterval: checkpoints, OnCommit: stage.ObserveCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	stage.Log = log
	return stage
}

// recordOf reads the record a response's receipt names and checks the receipt's leaf.
func recordOf(t *testing.T, l *audit.Log, receipt string) *audit.Record {
	t.Helper()
	r, err := audit.ParseReceipt(receipt)
	if err != nil {
		t.Fatalf("receipt %q: %v", receipt, err)
	}
	b, err := l.Record(r.Index)
	if err != nil {
		t.Fatal(err)
	}
	if string(audit.Hasher{}.HashLeaf(b)) != string(r.Leaf) || r.Origin != "govgate/gw-test" {
		t.Fatalf("receipt %s does not name record %d", receipt, r.Index)
	}
	rec, err := audit.ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestEveryExchangeIsRecorded(t *testing.T) {
	dir := t.TempDir()
	var l *audit.Log
	g := startPolicyGateway(t, 0, taxpayer, withAuditLog(t, dir, &l))
	cases := []struct {
		name, path string
		header     map[string]string
		status     int
		code       string
		allow      bool
	}{
		{"allowed", "/tax/v1/x?id=1", rensheju, 200, "", true},
		{"denied", "/tax/v1/x", with(rensheju, "X-Govgate-Purpose", "marketing"), 403, "denied", false},
		{"no route", "/nowhere", rensheju, 404, "no_route", false},
		{"ambiguous", "/tax/v1/../x", rensheju, 400, "ambiguous_path", false},
	}
	for _, c := range cases {
		status, h, _ := do(t, "GET", g.base+c.path, "", c.header)
		if status != c.status {
			t.Errorf("%s: status %d", c.name, status)
			continue
		}
		rec := recordOf(t, l, h.Get(HeaderReceipt))
		// An ambiguous path is refused before authentication: no consumer to record.
		dept := "110000-rensheju"
		if c.code == "ambiguous_path" {
			dept = ""
		}
		if rec.Status != c.status || rec.Error != c.code || rec.Consumer.Dept != dept || rec.Gateway != "gw-test" {
			t.Errorf("%s: recorded %+v", c.name, rec)
		}
		if c.allow && (rec.Decision == nil || !rec.Decision.Allow || rec.Agreement != "AGR-T-0001" || strings.Join(rec.Fields, ",") != "name,tax_status,taxpayer_id" || rec.Resource != "tax.registration" || rec.ResponseDigest == "") {
			t.Errorf("%s: recorded %+v", c.name, rec)
		}
		if c.code == "denied" && (rec.Decision == nil || rec.Decision.Allow || !strings.Contains(strings.Join(rec.Decision.Reasons, ","), "PURPOSE_NOT_COVERED") || rec.Decision.Revision == "") {
			t.Errorf("%s: decision recorded as %+v", c.name, rec.Decision)
		}
	}
	// The admin API serves a checkpoint that covers them, and proofs.
	waitFor(t, "a checkpoint", func() bool { c := l.Checkpoint(); return c != nil && c.Size == uint64(len(cases)) })
	status, _, body := do(t, "GET", g.admin+"/audit/checkpoint", "", nil)
	if status != 200 || !strings.HasPrefix(string(body), "govgate/gw-test\n4\n") || !strings.Contains(string(body), "— gw-test-audit ") {
		t.Errorf("checkpoint: %d %s", status, body)
	}
	for _, path := range []string{"/audit/proof/inclusion?index=1&size=4", "/audit/proof/consistency?from=2&to=4", "/audit/records/3"} {
		if status, _, body := do(t, "GET", g.admin+path, "", nil); status != 200 || len(body) == 0 {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	for _, path := range []string{"/audit/proof/inclusion?index=9&size=4", "/audit/proof/inclusion?index=x&size=4", "/audit/records/99"} {
		if status, _, _ := do(t, "GET", g.admin+path, "", nil); status < 400 {
			t.Errorf("%s: %d", path, status)
		}
	}
	// Every record — the exchanges' and the admin actions' — was sent one after another,
	// so each waited for its own commit, and the commit histogram says so.
	_, _, metrics := do(t, "GET", g.admin+"/metrics", "", nil)
	records, commits := metricValue(t, metrics, "govgate_audit_records_total"), metricValue(t, metrics, "govgate_audit_commit_duration_seconds_count")
	if records < 4 || commits != records || metricValue(t, metrics, `govgate_audit_commit_duration_seconds_bucket{le="+Inf"}`) != commits {
		t.Errorf("%v records, %v commits:\n%s", records, commits, metrics)
	}
	if metricValue(t, metrics, "govgate_audit_commit_duration_seconds_sum") <= 0 {
		t.Error("the commits took no time at all")
	}
}

// mountTmpfs mounts a small tmpfs at dir, or skips loudly when this machine does not allow
// it (mounting needs root or CAP_SYS_ADMIN; .ci/run runs as root).
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("SKIPPED LOUDLY: cannot mount a tmpfs to fill (%v): the disk-full test needs root", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
}

// TestAuditFailsClosedWhenDiskFull puts the audit log on a small tmpfs and fills it: every
// exchange is refused with 503 while records cannot be made durable, the gateway stays up
// and says so, and it serves again once space is freed, with nothing acknowledged lost.
func TestAuditFailsClosedWhenDiskFull(t *testing.T) {
	dir := t.TempDir()
	mountTmpfs(t, dir, "2m")
	logDir := filepath.Join(dir, "audit")
	os.Mkdir(logDir, 0o700)
	var l *audit.Log
	g := startPolicyGateway(t, 0, taxpayer, withAuditLog(t, logDir, &l))
	var receipts []string
	for range 5 {
		status, h, body := do(t, "GET", g.base+"/tax/v1/x", "", rensheju)
		if status != 200 {
			t.Fatalf("before the disk fills: %d %s", status, body)
		}
		receipts = append(receipts, h.Get(HeaderReceipt))
	}
	// Fill the file system.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for {
		if _, err := filler.Write(chunk[:512]); err != nil {
			break
		}
	}
	filler.Close()
	// The log's segment was grown ahead of its records, so exchanges go on until that room
	// is used up; then they are refused — all but a record small enough for what is left,
	// so the gateway's state is read right after a refusal (the probes that read it,
	// /readyz and /metrics, are not recorded).
	refused := 0
	untilRefused := func() {
		t.Helper()
		for range 2000 {
			status, h, body := do(t, "GET", g.base+"/tax/v1/x", "", rensheju)
			switch status {
			case 503:
				if errorCode(t, body) != "audit_unavailable" || h.Get(HeaderReceipt) != "" || strings.Contains(string(body), "北京数联") {
					t.Fatalf("refusal while full: %s %v", body, h)
				}
				refused++
				return
			case 200:
				receipts = append(receipts, h.Get(HeaderReceipt)) // still fitted
			default:
				t.Fatalf("while full: %d %s", status, body)
			}
		}
		t.Fatal("no exchange was refused with the disk full")
	}
	untilRefused()
	if status, _, body := do(t, "GET", g.admin+"/readyz", "", nil); status != 503 || !strings.Contains(string(body), "cannot be made durable") {
		t.Errorf("/readyz while full: %d %s", status, body)
	}
	untilRefused()
	_, _, metrics := do(t, "GET", g.admin+"/metrics", "", nil)
	if !strings.Contains(string(metrics), "govgate_audit_failing 1") {
		t.Error("metrics do not say the audit log is failing")
	}
	// A commit that failed is not a commit: only durable records count, one commit each
	// (they were sent one after another).
	if commits, records := metricValue(t, metrics, "govgate_audit_commit_duration_seconds_count"), metricValue(t, metrics, "govgate_audit_records_total"); commits != records || commits < float64(len(receipts)) {
		t.Errorf("%v commits, %v records durable, %d receipts", commits, records, len(receipts))
	}
	os.Remove(filepath.Join(dir, "filler"))
	status, h, body := do(t, "GET", g.base+"/tax/v1/x", "", rensheju)
	if status != 200 {
		t.Fatalf("after space was freed: %d %s", status, body)
	}
	receipts = append(receipts, h.Get(HeaderReceipt))
	if status, _, _ := do(t, "GET", g.admin+"/readyz", "", nil); status != 200 {
		t.Errorf("/readyz after space was freed: %d", status)
	}
	for _, r := range receipts {
		recordOf(t, l, r)
	}
	l.Close()
	keys, err := audit.LoadKeySet(filepath.Join(logDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(logDir, keys); err != nil {
		t.Fatalf("the log does not verify after the disk was full: %v", err)
	}
	exchanges := 0
	audit.Scan(logDir, func(_ uint64, b []byte) error {
		if r, err := audit.ParseRecord(b); err == nil && r.Kind == audit.KindExchange {
			exchanges++
		}
		return nil
	})
	if exchanges != len(receipts) {
		t.Errorf("%d exchange records, %d acknowledged", exchanges, len(receipts))
	}
}

// metricValue reads the value of one series from a Prometheus text exposition.
func metricValue(t *testing.T, metrics []byte, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in the metrics", series)
	return 0
}

// TestRecordedFieldsOfEachExchangeAlone: exchanges one after another release different
// parts of the decision's fields, and each record lists its own body's, never a field of
// the exchange before (the record's room for a part is reused between exchanges).
func TestRecordedFieldsOfEachExchangeAlone(t *testing.T) {
	dir := t.TempDir()
	var l *audit.Log
	bodies := map[string]string{
		"1": `{"name":"北京数联科技有限公司"}`,
		"2": `{"tax_status":"正常","taxpayer_id":"91110108MA01A2B3C4"}`,
		"3": `[{"taxpayer_id":"9"},{"name":"n"}]`,
		"4": `{}`,
	}
	want := map[string]string{"1": "name", "2": "tax_status,taxpayer_id", "3": "name,taxpayer_id", "4": ""}
	respond := func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(bodies[string(ctx.QueryArgs().Peek("id"))])
		return true
	}
	g := startPolicyGateway(t, 0, respond, withAuditLog(t, dir, &l))
	for _, id := range []string{"2", "1", "3", "1", "4", "2", "3", "4", "1"} {
		status, h, body := do(t, "GET", g.base+"/tax/v1/x?id="+id, "", rensheju)
		if status != 200 {
			t.Fatalf("id %s: status %d: %s", id, status, body)
		}
		if rec := recordOf(t, l, h.Get(HeaderReceipt)); strings.Join(rec.Fields, ",") != want[id] {
			t.Errorf("id %s: body %s recorded with fields %v, want %s", id, body, rec.Fields, want[id])
		}
	}
}
