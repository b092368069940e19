package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyDirPositional: test, check, fmt and init take the directory as opa does
// (positional, before or after the flags) or as --dir; two directories are refused.
func TestPolicyDirPositional(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policy")
	if code, _, errOut := runCmd(t, "policy", "init", dir); code != 0 {
		t.Fatalf("policy init DIR: %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"policy", "test", dir},
		{"policy", "test", dir, "--coverage"},
		{"policy", "test", "--json", dir},
		{"policy", "test", "--dir", dir},
		{"policy", "test", "--dir", dir, dir},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 || !strings.Contains(out, "passed") {
			t.Errorf("%v: %d %s %s", args, code, out, errOut)
		}
	}
	if code, out, errOut := runCmd(t, "policy", "check", dir); code != 0 || !strings.HasPrefix(out, "ok: revision ") {
		t.Errorf("policy check DIR: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "policy", "fmt", dir, "--list"); code != 0 || out != "" {
		t.Errorf("policy fmt DIR --list: %d %q %s", code, out, errOut)
	}
	// Refused: two directories, one of them by flag; two positionals.
	other := t.TempDir()
	if code, _, errOut := runCmd(t, "policy", "test", "--dir", other, dir); code != 2 || !strings.Contains(errOut, `two policy directories given ("`+dir+`" and --dir "`+other+`"): give one`) {
		t.Errorf("two directories: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "policy", "check", dir, other); code != 2 || !strings.Contains(errOut, `unexpected argument "`+other+`": one policy directory only`) {
		t.Errorf("two positionals: %d %s", code, errOut)
	}
	// After "--" a name that looks like a flag is a directory (and here a missing one).
	if code, _, errOut := runCmd(t, "policy", "check", "--", "--coverage"); code != 1 || errOut != "govgate policy: policy directory: stat --coverage: no such file or directory\n" {
		t.Errorf("check -- --coverage: %d %s", code, errOut)
	}
}

// TestPolicyEvalFailAndInputTypes: --fail makes a denial exit 2 with the decision still
// printed; an allow exits 0; an input field of the wrong JSON type is refused naming it.
func TestPolicyEvalFailAndInputTypes(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	denied := "../../examples/policy-input.json" // cites an expired agreement
	code, out, errOut := runCmd(t, "policy", "eval", "--fail", "--input", denied)
	if code != 1 || !strings.Contains(out, `"allow": false`) || errOut != "denied: AGREEMENT_EXPIRED\n" {
		t.Errorf("eval --fail on a denial: %d %s %q", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "policy", "eval", "--input", denied); code != 0 || !strings.Contains(out, `"allow": false`) {
		t.Errorf("eval without --fail on a denial: %d %s", code, out)
	}
	src, err := os.ReadFile(denied)
	if err != nil {
		t.Fatal(err)
	}
	allowed := write("allowed.json", strings.Replace(string(src), "AGR-2024-0311", "AGR-2026-0107", 1))
	if code, out, errOut := runCmd(t, "policy", "eval", "--fail", "--input", allowed); code != 0 || !strings.Contains(out, `"allow": true`) {
		t.Errorf("eval --fail on an allow: %d %s %s", code, out, errOut)
	}

	cases := []struct{ name, input, want string }{
		{"number for the department", `{"subject": {"dept": 1}}`,
			"input: input.subject.dept: want a string, got a number (1)"},
		{"object for the purpose", `{"request": {"purpose": {"x": 1}}}`,
			"input: input.request.purpose: want a string, got an object"},
		{"string for signed", `{"subject": {"signed": "yes"}}`,
			`input: input.subject.signed: want true or false, got a string ("yes")`},
		{"misspelt field", `{"subject": {"dpt": "110000-rensheju"}}`,
			"input: input.subject.dpt: not a field of the policy input (input.subject has auth, cert_serial, dept, signed, system)"},
		{"query value not a string", `{"request": {"query": {"id": 7}}}`,
			"input: input.request.query.id: want a string, got a number (7)"},
		{"time not RFC 3339", `{"time": "yesterday"}`,
			`input: input.time: "yesterday" is not an RFC 3339 time`},
		{"not an object", `[1]`, "input: want a JSON object, got an array"},
		{"two problems", `{"subject": {"dept": null}, "route": {"mode": true}}`,
			"input: 2 problems:\n  input.route.mode: want a string, got a boolean (true)\n  input.subject.dept: want a string, got null"},
	}
	for _, c := range cases {
		p := write("bad.json", c.input)
		code, out, errOut := runCmd(t, "policy", "eval", "--input", p)
		if want := "govgate policy: " + p + ": " + c.want + "\n"; code != 1 || out != "" || errOut != want {
			t.Errorf("%s: exit %d, stdout %q\nstderr %q\nwant   %q", c.name, code, out, errOut, want)
		}
	}
}
