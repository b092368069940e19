package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runJSON runs a command with --json and decodes its stdout strictly: one JSON document
// and nothing after it, into v.
func runJSON(t *testing.T, v any, args ...string) (int, string) {
	t.Helper()
	code, out, errOut := runCmd(t, args...)
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v: exit %d: stdout is not JSON: %v\n%s\n%s", args, code, err, out, errOut)
	}
	if dec.More() {
		t.Fatalf("%v: more than one JSON document:\n%s", args, out)
	}
	return code, errOut
}

// verdict is the part every verdict's JSON shares.
type verdict struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// TestJSONOfListsAndVerdicts: --json on each list and verdict command prints one JSON
// document that parses and carries the answer, and the exit status still tells the
// verdict: a "no" (failing test, unformatted file, denial, not ready) and a failure (a
// parse error, an unknown record, a bad config) exit 1 with ok false.
func TestJSONOfListsAndVerdicts(t *testing.T) {
	dir := t.TempDir()

	t.Run("certs list", func(t *testing.T) {
		ca := filepath.Join(dir, "ca")
		mustRun(t, "ca", "init", "--dir", ca)
		mustRun(t, "certs", "issue", "--ca", ca, "--dept", "d1", "--system", "s1", "--out", dir)
		serials := issuedSerials(t, ca)
		mustRun(t, "certs", "revoke", serials[0], "--ca", ca, "--reason", "keyCompromise")
		var list []struct {
			Serial, Dept, System, Use, Reason string
			DaysLeft                          int `json:"days_left"`
			Revoked                           bool
		}
		if code, _ := runJSON(t, &list, "certs", "list", "--ca", ca, "--json"); code != 0 || len(list) != 2 {
			t.Fatalf("exit %d %+v", code, list)
		}
		for _, c := range list {
			if c.Dept != "d1" || c.System != "s1" || c.DaysLeft < 360 || c.Revoked != (c.Serial == serials[0]) || (c.Reason == "keyCompromise") != c.Revoked {
				t.Errorf("%+v", c)
			}
		}
	})

	t.Run("keys list", func(t *testing.T) {
		store := filepath.Join(dir, "keys")
		for range 2 {
			mustRun(t, "keys", "rotate", "audit-signing", "--dir", store)
		}
		var list []struct {
			Name     string
			Latest   int
			Versions []struct {
				Number  int
				Created time.Time
				State   string
			}
		}
		code, _ := runJSON(t, &list, "keys", "list", "--json", "--dir", store)
		if code != 0 || len(list) != 1 || list[0].Name != "audit-signing" || list[0].Latest != 2 || len(list[0].Versions) != 2 ||
			list[0].Versions[0].State != "old" || list[0].Versions[1].State != "in use" || list[0].Versions[1].Created.IsZero() {
			t.Errorf("exit %d %+v", code, list)
		}
	})

	t.Run("policy", func(t *testing.T) {
		pol := filepath.Join(dir, "policy")
		mustRun(t, "policy", "init", pol)
		var test struct {
			verdict
			Passed, Failed int
			Failures       []string
		}
		if code, _ := runJSON(t, &test, "policy", "test", pol, "--json"); code != 0 || !test.OK || test.Passed == 0 || test.Failed != 0 {
			t.Errorf("test: exit %d %+v", code, test)
		}
		var check struct {
			verdict
			Revision    string
			Reads       []string
			Unformatted []string
		}
		if code, _ := runJSON(t, &check, "policy", "check", "--json", pol); code != 0 || !check.OK || check.Revision == "" || len(check.Reads) == 0 || check.Unformatted == nil || len(check.Unformatted) != 0 {
			t.Errorf("check: exit %d %+v", code, check)
		}
		// A failing test: a "no".
		writeFile(t, pol+"/authz/failing_test.rego", "package govgate.authz_test\n\ntest_fails if false\n")
		test.Failures = nil
		if code, _ := runJSON(t, &test, "policy", "test", pol, "--json"); code != 1 || test.OK || test.Failed != 1 || len(test.Failures) != 1 {
			t.Errorf("failing test: exit %d %+v", code, test)
		}
		// A file out of layout: a "no", naming it.
		writeFile(t, pol+"/authz/failing_test.rego", "package govgate.authz_test\n\ntest_passes    if true\n")
		check.Unformatted = nil
		if code, _ := runJSON(t, &check, "policy", "check", pol, "--json"); code != 1 || check.OK || len(check.Unformatted) != 1 || check.Unformatted[0] != "authz/failing_test.rego" {
			t.Errorf("unformatted: exit %d %+v", code, check)
		}
		// A parse error: a failure, said on stdout as JSON and on stderr.
		writeFile(t, pol+"/authz/failing_test.rego", "package govgate.authz_test\n\ntest_broken if {\n")
		for _, cmd := range []string{"test", "check"} {
			var v verdict
			if code, errOut := runJSON(t, &v, "policy", cmd, pol, "--json"); code != 1 || v.OK || !strings.Contains(v.Error, "failing_test.rego") || !strings.Contains(errOut, "failing_test.rego") {
				t.Errorf("%s of a parse error: exit %d %+v %s", cmd, code, v, errOut)
			}
		}
		// eval: the decision is JSON with or without --json; --fail makes a denial exit 1.
		var eval struct {
			Decision struct {
				Allow   bool
				Reasons []struct{ Code string }
			}
		}
		if code, _ := runJSON(t, &eval, "policy", "eval", "--json", "--fail", "--input", "../../examples/policy-input.json"); code != 1 || eval.Decision.Allow || len(eval.Decision.Reasons) == 0 {
			t.Errorf("eval: exit %d %+v", code, eval)
		}
	})

	t.Run("audit proof and report", func(t *testing.T) {
		logDir := filepath.Join(dir, "audit")
		l := auditTestLog(t, logDir, auditTestSigner(t))
		at := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
		for i := range 5 {
			appendRecords(t, l, sharingRecord(i, at, "AGR-1", 200))
		}
		l.Close()
		keys := trustedKeys(t, logDir)
		var proof struct {
			verdict
			Index, Size uint64
			Receipt     string
			Proof       []string
		}
		if code, _ := runJSON(t, &proof, "audit", "proof", logDir, "--index", "3", "--keys", keys, "--json"); code != 0 || !proof.OK || proof.Index != 3 || proof.Size != 5 || len(proof.Proof) == 0 || proof.Receipt == "" {
			t.Errorf("proof: exit %d %+v", code, proof)
		}
		var v verdict
		if code, _ := runJSON(t, &v, "audit", "proof", "--json", logDir, "--index", "9", "--keys", keys); code != 1 || v.OK || !strings.Contains(v.Error, "record 9") {
			t.Errorf("proof of a record not covered: exit %d %+v", code, v)
		}
		var rep struct {
			By   []string
			Rows []struct{ Allowed int }
		}
		if code, _ := runJSON(t, &rep, "audit", "report", logDir, "--by", "agreement", "--json"); code != 0 || len(rep.Rows) != 1 || rep.Rows[0].Allowed != 5 || strings.Join(rep.By, ",") != "agreement" {
			t.Errorf("report: exit %d %+v", code, rep)
		}
	})

	t.Run("config", func(t *testing.T) {
		var cfg struct {
			verdict
			Path   string
			Config map[string]any
		}
		if code, _ := runJSON(t, &cfg, "config", "-c", "../../examples/govgate.yaml", "--json"); code != 0 || !cfg.OK || cfg.Config["gateway_id"] != "gw-beijing-ext-01" {
			t.Errorf("config: exit %d %+v", code, cfg)
		}
		if b, _ := json.Marshal(cfg.Config); strings.Contains(string(b), "replace-with-the-provider-token") {
			t.Errorf("config --json shows a secret: %s", b)
		}
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte("gateway_id: x\nlisteners: 5\n"), 0o644)
		var v verdict
		if code, _ := runJSON(t, &v, "config", "--json", "-c", bad); code != 1 || v.OK || !strings.Contains(v.Error, "bad.yaml") {
			t.Errorf("a bad config: exit %d %+v", code, v)
		}
	})

	t.Run("healthcheck", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.Error(w, "starting", http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		var h struct {
			verdict
			URL    string
			Status int
		}
		if code, _ := runJSON(t, &h, "healthcheck", "--json", "--url", srv.URL+"/readyz"); code != 0 || !h.OK || h.Status != 200 {
			t.Errorf("ready: exit %d %+v", code, h)
		}
		h = struct {
			verdict
			URL    string
			Status int
		}{}
		if code, errOut := runJSON(t, &h, "healthcheck", "--json", "--url", srv.URL+"/x"); code != 1 || h.OK || h.Status != 503 || !strings.Contains(h.Error, "503") || !strings.Contains(errOut, "not ready") {
			t.Errorf("not ready: exit %d %+v", code, h)
		}
	})
}
