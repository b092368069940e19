package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPolicyCommands(t *testing.T) {
	if code, out, errOut := runCmd(t, "policy", "test", "--coverage"); code != 0 || !strings.Contains(out, "0 failed") || !strings.Contains(out, "coverage authz/authz.rego") {
		t.Errorf("policy test: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "policy", "check"); code != 0 || !strings.Contains(out, "compiles in strict mode") {
		t.Errorf("policy check: %d %s %s", code, out, errOut)
	}
	code, out, errOut := runCmd(t, "policy", "eval", "--explain", "--input", "../../examples/policy-input.json")
	if code != 0 || !strings.Contains(out, "AGREEMENT_EXPIRED") || !strings.Contains(out, `"fired"`) || !strings.Contains(out, "authz/authz.rego:") {
		t.Errorf("policy eval: %d %s %s", code, out, errOut)
	}
	if code, _, _ := runCmd(t, "policy", "eval"); code != 2 {
		t.Errorf("eval without input: exit %d", code)
	}
	if code, _, _ := runCmd(t, "policy"); code != 2 {
		t.Errorf("policy without a command: exit %d", code)
	}
}

func TestPolicyCommandsOnAWorkingCopy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policy")
	if code, out, errOut := runCmd(t, "policy", "init", "--dir", dir); code != 0 || !strings.Contains(out, dir) {
		t.Fatalf("policy init: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "policy", "init", "--dir", dir); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("init over a working copy: %d %s", code, errOut)
	}
	rego := filepath.Join(dir, "authz", "authz.rego")
	src, err := os.ReadFile(rego)
	if err != nil {
		t.Fatal(err)
	}
	// Misformatted: check and fmt --list name the file; fmt rewrites it.
	os.WriteFile(rego, bytes.Replace(src, []byte("default allow := false"), []byte("default   allow:=false"), 1), 0o644)
	if code, out, _ := runCmd(t, "policy", "check", "--dir", dir); code != 1 || !strings.Contains(out, "authz/authz.rego: not in opa fmt layout") {
		t.Errorf("check of a misformatted file: %d %s", code, out)
	}
	if code, out, _ := runCmd(t, "policy", "fmt", "--dir", dir, "--list"); code != 1 || strings.TrimSpace(out) != "authz/authz.rego" {
		t.Errorf("fmt --list: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "policy", "fmt", "--dir", dir); code != 0 {
		t.Fatalf("fmt: %d %s", code, errOut)
	}
	if got, _ := os.ReadFile(rego); !bytes.Equal(got, src) {
		t.Error("fmt did not restore the canonical layout")
	}
	// A failing Rego test fails the command, naming the test.
	test := filepath.Join(dir, "authz", "authz_test.rego")
	tsrc, _ := os.ReadFile(test)
	os.WriteFile(test, bytes.Replace(tsrc, []byte(`d.require_signature == true`), []byte(`d.require_signature == false`), 1), 0o644)
	if code, out, _ := runCmd(t, "policy", "test", "--dir", dir); code != 1 || !strings.Contains(out, "FAIL authz/authz_test.rego") || !strings.Contains(out, "test_decision_shape_allow") {
		t.Errorf("failing test: %d %s", code, out)
	}
	// A compile error is reported with its file and line.
	os.WriteFile(rego, append(src, []byte("\nbroken := \n")...), 0o644)
	if code, _, errOut := runCmd(t, "policy", "check", "--dir", dir); code != 1 || !strings.Contains(errOut, "authz/authz.rego:") {
		t.Errorf("syntax error: %d %s", code, errOut)
	}
}
