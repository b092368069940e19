package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
)

// auditTestLog opens a real log in dir with the default (64 MiB) segments: no segment
// seals in a test. Checkpoints come only at close, so a test knows what they cover.
func auditTestLog(t *testing.T, dir string, signer *audit.NoteSigner) *audit.Log {
	t.Helper()
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate.test/gw-1", Signer: signer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func auditTestSigner(t *testing.T) *audit.NoteSigner {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewNoteSigner("gw-1-audit", key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sharingRecord is an exchange of 110000-rensheju with the tax pool under agreement.
func sharingRecord(i int, at time.Time, agreement string, status int, reasons ...string) *audit.Record {
	r := &audit.Record{Kind: audit.KindExchange, Route: "tax-query", Provider: "tax", Resource: "tax.registration", Mode: "query",
		Time: at, Gateway: "gw-1", RequestID: fmt.Sprintf("req-%d", i), Consumer: audit.Consumer{Dept: "110000-rensheju", System: "s", CertSerial: "01"},
		Agreement: agreement, Method: "GET", Path: "/tax/v1/x", Status: status, Fields: []string{}, Bytes: audit.Bytes{Response: 10}}
	if len(reasons) > 0 {
		r.Error, r.Decision = "denied", &audit.Decision{Allow: false, Reasons: reasons, Revision: "r"}
	}
	return r
}

func appendRecords(t *testing.T, l *audit.Log, recs ...*audit.Record) {
	t.Helper()
	for _, r := range recs {
		if _, err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// trustedKeys copies the log's key set to a place apart from it, as an auditor keeps it.
func trustedKeys(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trusted-keys.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAuditExportProvable: `audit export` of a log whose only segment is still being
// written (default 64 MiB segments), beside the running log, exports every record the
// latest checkpoint covers and says how many, tells the auditor to verify against a key
// copy kept apart, and the export verifies, and proves a record offline, with that copy.
// Refused: an export before any checkpoint; using the export's own keys passes only with a
// loud warning.
func TestAuditExportProvable(t *testing.T) {
	dir := t.TempDir()
	signer := auditTestSigner(t)
	l := auditTestLog(t, dir, signer)
	at := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	for i := range 30 {
		appendRecords(t, l, sharingRecord(i, at, "AGR-1", 200))
	}
	if code, out, errOut := runCmd(t, "audit", "export", dir, "--out", filepath.Join(t.TempDir(), "e")); code == 0 || !strings.Contains(errOut, "no checkpoint yet") {
		t.Errorf("export before any checkpoint: %d %s %s", code, out, errOut)
	}
	l.Close() // signs the checkpoint of 30
	l = auditTestLog(t, dir, signer)
	defer l.Close()
	for i := 30; i < 35; i++ { // not yet covered by a checkpoint
		appendRecords(t, l, sharingRecord(i, at, "AGR-1", 200))
	}
	trusted := trustedKeys(t, dir)

	out := filepath.Join(t.TempDir(), "export")
	code, msg, errOut := runCmd(t, "audit", "export", dir, "--out", out)
	if code != 0 {
		t.Fatalf("export: %d %s %s", code, msg, errOut)
	}
	for _, want := range []string{"exported 30 records (indexes 0–29) to " + out, "checkpoint of 30 records", "kept apart from the log", "--keys TRUSTED-keys.json"} {
		if !strings.Contains(msg, want) {
			t.Errorf("export message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "--keys "+filepath.Join(out, "keys.json")) {
		t.Errorf("the export tells the auditor to verify with the keys it ships:\n%s", msg)
	}

	code, vout, verr := runCmd(t, "audit", "verify", out, "--keys", trusted)
	if code != 0 || !strings.HasPrefix(vout, "ok: 30 records (indexes 0–29), 0 consumer signatures, 1 checkpoint (latest covers 30 records)") || strings.Contains(vout, "not yet covered") || verr != "" {
		t.Errorf("verify export: %d %s %s", code, vout, verr)
	}
	// The export reports alone too: its 30 records, not the 5 after the checkpoint.
	if code, rout, rerr := runCmd(t, "audit", "report", out, "--by", "consumer", "--csv"); code != 0 || rout != "consumer,allowed,denied,failed,bytes_released\n110000-rensheju,30,0,0,300\n" {
		t.Errorf("report on the export: %d %q %s", code, rout, rerr)
	}
	// The export's own keys: accepted, with a warning that says why it proves nothing.
	code, _, verr = runCmd(t, "audit", "verify", out, "--keys", filepath.Join(out, "keys.json"))
	if code != 0 || !strings.Contains(verr, "WARNING: --keys "+filepath.Join(out, "keys.json")+" is the key set inside") || !strings.Contains(verr, "kept apart") {
		t.Errorf("verify with the export's own keys: %d %s", code, verr)
	}

	// audit proof on the export, and its JSON proof checked offline against the checkpoint.
	code, pout, perr := runCmd(t, "audit", "proof", out, "--index", "29", "--keys", trusted)
	if code != 0 || !strings.Contains(pout, "record 29 is in log govgate.test/gw-1 of 30 records") {
		t.Errorf("proof on the export: %d %s %s", code, pout, perr)
	}
	code, pj, perr := runCmd(t, "audit", "proof", out, "--index", "7", "--keys", trusted, "--json")
	if code != 0 {
		t.Fatalf("proof --json: %d %s %s", code, pj, perr)
	}
	var p struct {
		Index      uint64   `json:"index"`
		Origin     string   `json:"origin"`
		Size       uint64   `json:"size"`
		Proof      []string `json:"proof"`
		Record     string   `json:"record"`
		Checkpoint string   `json:"checkpoint"`
	}
	if err := json.Unmarshal([]byte(pj), &p); err != nil {
		t.Fatal(err)
	}
	ks, err := audit.LoadKeySet(trusted)
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.OpenCheckpoint([]byte(p.Checkpoint), ks)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([][]byte, len(p.Proof))
	for i, h := range p.Proof {
		hashes[i], _ = base64.StdEncoding.DecodeString(h)
	}
	if err := audit.VerifyReceipt(audit.Receipt{Origin: p.Origin, Index: p.Index, Leaf: audit.Hasher{}.HashLeaf([]byte(p.Record))}, c, hashes); err != nil || p.Index != 7 || c.Size != 30 {
		t.Errorf("the JSON proof does not verify offline: %v (%+v)", err, p)
	}
	// A record the export's checkpoint does not cover is refused, not "proved".
	if code, _, perr := runCmd(t, "audit", "proof", out, "--index", "30", "--keys", trusted); code == 0 || !strings.Contains(perr, "not covered by the latest checkpoint") {
		t.Errorf("proof of a record past the checkpoint: %d %s", code, perr)
	}

	// --json of export, parsed back.
	code, ej, eerr := runCmd(t, "audit", "export", dir, "--out", filepath.Join(t.TempDir(), "e2"), "--json")
	var raw map[string]any
	if code != 0 || json.Unmarshal([]byte(ej), &raw) != nil {
		t.Fatalf("export --json: %d %s %s", code, ej, eerr)
	}
	if raw["first"] != 0.0 || raw["end"] != 30.0 || raw["records"] != 30.0 || raw["checkpoint_size"] != 30.0 || raw["origin"] != "govgate.test/gw-1" {
		t.Errorf("export --json: %s", ej)
	}
	// Into a directory with files: refused, the files untouched.
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "mine"), []byte("x"), 0o600)
	if code, _, eerr := runCmd(t, "audit", "export", dir, "--out", busy); code == 0 || !strings.Contains(eerr, "not empty") {
		t.Errorf("export into a non-empty directory: %d %s", code, eerr)
	}
}

// TestAuditVerifyJSON: --json is the report with stable names, parsed back; a fault is in
// faults with its index, and the exit status is still 1.
func TestAuditVerifyJSON(t *testing.T) {
	dir := t.TempDir()
	l := auditTestLog(t, dir, auditTestSigner(t))
	at := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	for i := range 12 {
		appendRecords(t, l, sharingRecord(i, at, "AGR-1", 200))
	}
	l.Close()
	trusted := trustedKeys(t, dir)
	type report struct {
		OK              bool   `json:"ok"`
		First           uint64 `json:"first"`
		Records         uint64 `json:"records"`
		Signed          int    `json:"signed"`
		Checkpoints     int    `json:"checkpoints"`
		LastCheckpoint  uint64 `json:"last_checkpoint"`
		UncoveredRecord uint64 `json:"uncovered_records"`
		Faults          []struct {
			Index      int64  `json:"index"`
			Checkpoint int    `json:"checkpoint"`
			What       string `json:"what"`
		} `json:"faults"`
	}
	parse := func(out string) report {
		t.Helper()
		var r report
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return r
	}
	code, out, errOut := runCmd(t, "audit", "verify", dir, "--keys", trusted, "--json")
	r := parse(out)
	if code != 0 || !r.OK || r.Records != 12 || r.LastCheckpoint != 12 || r.Checkpoints != 1 || r.Faults == nil || len(r.Faults) != 0 || !strings.Contains(out, `"faults": []`) {
		t.Errorf("verify --json: %d %+v %s", code, r, errOut)
	}
	seg := filepath.Join(dir, "segments", fmt.Sprintf("%020d.seg", 0))
	b, _ := os.ReadFile(seg)
	i := strings.Index(string(b), `"req-5"`)
	b[i+2] ^= 1
	os.WriteFile(seg, b, 0o600)
	code, out, _ = runCmd(t, "audit", "verify", dir, "--keys", trusted, "--json")
	r = parse(out)
	if code != 1 || r.OK || len(r.Faults) == 0 || r.Faults[0].Index != 5 || r.Faults[0].Checkpoint != -1 {
		t.Errorf("verify --json of a changed log: %d %+v", code, r)
	}
}

// TestAuditReportColumns: the report names the providing department from the policy's
// catalog beside the pool, puts catalog reads and 404s in rows of their own, breaks down by
// day (Beijing time), agreement and reason, and its CSV and JSON carry the same rows.
func TestAuditReportColumns(t *testing.T) {
	dir := t.TempDir()
	l := auditTestLog(t, dir, auditTestSigner(t))
	day1 := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)  // 10:00 in Beijing
	day2 := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC) // 04:00 the next day in Beijing
	catalog := &audit.Record{Kind: audit.KindCatalog, Time: day1, Gateway: "gw-1", Consumer: audit.Consumer{Dept: "110000-rensheju"}, Method: "GET", Path: "/.well-known/govgate/catalog", Status: 200, Fields: []string{}}
	notFound := &audit.Record{Kind: audit.KindRefusal, Time: day2, Gateway: "gw-1", Consumer: audit.Consumer{Dept: "110000-rensheju"}, Method: "GET", Path: "/nothing", Error: "no_route", Status: 404, Fields: []string{}}
	appendRecords(t, l,
		sharingRecord(0, day1, "AGR-2026-0042", 200), sharingRecord(1, day1, "AGR-2026-0042", 200),
		sharingRecord(2, day2, "AGR-2026-0042", 403, "PURPOSE_NOT_ALLOWED"), sharingRecord(3, day2, "AGR-2025-0001", 403, "AGREEMENT_EXPIRED"),
		catalog, catalog, catalog, notFound)
	l.Close()

	code, out, errOut := runCmd(t, "audit", "report", dir, "--policy", "../../rego")
	want := `consumer         provider       pool  resource          agreement      kind      allowed  denied  failed  bytes_released
110000-rensheju  -              -     -                 -              catalog   3        0       0       0
110000-rensheju  -              -     -                 -              refusal   0        0       1       0
110000-rensheju  110000-shuiwu  tax   tax.registration  AGR-2025-0001  exchange  0        1       0       0
110000-rensheju  110000-shuiwu  tax   tax.registration  AGR-2026-0042  exchange  2        1       0       20
`
	if code != 0 || out != want {
		t.Errorf("report: %d %s\n%s\nwant\n%s", code, errOut, out, want)
	}
	code, out, errOut = runCmd(t, "audit", "report", dir, "--by", "day,reason", "--csv")
	want = `day,reason,allowed,denied,failed,bytes_released
2026-11-29,,5,0,0,20
2026-11-30,AGREEMENT_EXPIRED,0,1,0,0
2026-11-30,PURPOSE_NOT_ALLOWED,0,1,0,0
2026-11-30,no_route,0,0,1,0
`
	if code != 0 || out != want {
		t.Errorf("report --by day,reason: %d %s\n%s\nwant\n%s", code, errOut, out, want)
	}
	// Without --policy the provider column is empty, and the note says why.
	code, out, errOut = runCmd(t, "audit", "report", dir, "--by", "provider,pool", "--csv")
	if code != 0 || !strings.Contains(out, ",tax,2,2,0,20\n") || !strings.Contains(errOut, "no --policy") {
		t.Errorf("report without --policy: %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "audit", "report", dir, "--by", "agreement", "--from", "2026-11-30", "--json", "--policy", "../../rego")
	var rep struct {
		From *time.Time        `json:"from"`
		To   time.Time         `json:"to"`
		By   []string          `json:"by"`
		Rows []audit.ReportRow `json:"rows"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); code != 0 || err != nil {
		t.Fatalf("report --json: %d %v %s %s", code, err, out, errOut)
	}
	wantRows := []audit.ReportRow{{Failed: 1}, {Agreement: "AGR-2025-0001", Denied: 1}, {Agreement: "AGR-2026-0042", Denied: 1}}
	if rep.From == nil || !rep.From.Equal(time.Date(2026, 11, 29, 16, 0, 0, 0, time.UTC)) || len(rep.By) != 1 || rep.By[0] != "agreement" || fmt.Sprint(rep.Rows) != fmt.Sprint(wantRows) {
		t.Errorf("report --json: %+v", rep)
	}
	for _, bad := range [][]string{{"--by", "date"}, {"--by", "day,day"}, {"--csv", "--json"}, {"--policy", t.TempDir()}} {
		if code, _, _ := runCmd(t, append([]string{"audit", "report", dir}, bad...)...); code == 0 {
			t.Errorf("report %v accepted", bad)
		}
	}
}
