package gateway_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyReloadClearsFailureOnRevert: a broken edit makes POST /policy/reload answer
// 422 and govgate_policy_reload_failing 1; once the officer restores exactly the live
// files, POST /policy/reload answers changed: false and the failure is gone from /policy
// and from the metric, so an alert on it stops firing.
func TestPolicyReloadClearsFailureOnRevert(t *testing.T) {
	g := startPolicyGateway(t, 0, taxpayer)
	live := g.stage.Engine.Revision().ID
	p := filepath.Join(g.dir, "authz", "authz.rego")
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(append([]byte{}, orig...), "\nbroken := \n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "POST", g.admin+"/policy/reload", "", nil); status != 422 {
		t.Fatalf("broken reload: %d %s", status, body)
	}
	if _, _, m := do(t, "GET", g.admin+"/metrics", "", nil); !strings.Contains(string(m), "govgate_policy_reload_failing 1\n") {
		t.Fatal("the refused reload is not in the metrics")
	}
	if err := os.WriteFile(p, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, "POST", g.admin+"/policy/reload", "", nil)
	var answer struct {
		Revision string `json:"revision"`
		Changed  *bool  `json:"changed"`
	}
	if status != 200 || json.Unmarshal(body, &answer) != nil || answer.Changed == nil || *answer.Changed || answer.Revision != live {
		t.Fatalf("reload of the reverted files: %d %s", status, body)
	}
	if _, _, m := do(t, "GET", g.admin+"/metrics", "", nil); !strings.Contains(string(m), "govgate_policy_reload_failing 0\n") {
		t.Errorf("the metric still says failing after the revert")
	}
	_, _, st := do(t, "GET", g.admin+"/policy", "", nil)
	var s struct {
		LastError string `json:"last_error"`
		Failures  int    `json:"reload_failures"`
	}
	if err := json.Unmarshal(st, &s); err != nil || s.LastError != "" || s.Failures != 1 {
		t.Errorf("GET /policy after the revert: %s", st)
	}
}
