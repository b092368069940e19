package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestLegacyLongFlags: a long flag with one dash, as Go's flag package took it, becomes
// the long flag of the command the line runs; a cluster of boolean shorthands, a flag's
// value, an unknown name and everything after "--" are left alone.
func TestLegacyLongFlags(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"certs issue -ca D -valid=90d -json", "certs issue --ca D --valid=90d -json"}, // issue has no --json: pflag refuses it
		{"certs list -ca D -json", "certs list --ca D --json"},
		{"call -fs -silent -d -ca URL", "call -fs --silent -d -ca URL"}, // -fs a cluster; -ca the value of -d
		{"call -ca X --header -ca URL -- -ca", "call --ca X --header -ca URL -- -ca"},
		{"call -data-binary @f -X -request URL", "call --data-binary @f -X -request URL"},
		{"ca init -help", "ca init --help"},
		{"-version", "--version"},
		{"audit verify DIR -keys K -index 3", "audit verify DIR --keys K -index 3"}, // -index is proof's
		{"policy test -dir D -coverage", "policy test --dir D --coverage"},
		{"serve -c f.yaml -config g", "serve -c f.yaml --config g"},
		{"nonsense -ca x", "nonsense -ca x"},
	} {
		got := strings.Join(legacyLongFlags(newRoot(io.Discard, io.Discard), strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	// End to end: a script written for Go's flag package still runs.
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	mustRun(t, "ca", "init", "-dir", ca, "-valid", "30d")
	mustRun(t, "certs", "issue", "-ca", ca, "-dept", "d1", "-system", "s1", "-out", dir)
	var list []certJSON
	if err := json.Unmarshal([]byte(mustRun(t, "certs", "list", "-json", "-ca", ca)), &list); err != nil || len(list) != 2 {
		t.Errorf("certs list -json -ca: %v %+v", err, list)
	}
	// Still refused: a single-dash name that is no flag of the command.
	if code, _, _ := runCmd(t, "certs", "list", "-ca", ca, "-nope"); code != 2 {
		t.Errorf("-nope: exit %d", code)
	}
}

// TestArgumentsAndOrder: a missing or extra positional argument is a usage error (2)
// everywhere; flags stand before or after the positional ones; "--" makes what follows
// positional.
func TestArgumentsAndOrder(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"audit", "verify"}, {"audit", "verify", "a", "b", "--keys", "k"}, {"audit", "proof", "--keys", "k"},
		{"audit", "report"}, {"audit", "export", "--out", dir}, {"keys", "rotate", "--dir", dir},
		{"keys", "rotate", "a", "b", "--dir", dir}, {"certs", "list", "--ca", dir, "extra"}, {"certs", "revoke", "a", "b", "--ca", dir},
		{"ca", "init", "--dir", dir, "extra"}, {"call"}, {"call", "https://a/x", "https://b/x"}, {"loadtest"},
		{"version", "extra"}, {"healthcheck", "extra"}, {"config", "extra"}, {"serve", "extra"}, {"demo", "extra"},
		{"policy", "test", "a", "b"}, {"completion", "bash", "extra"}, {"completion", "tcsh"},
		{"audit", "verify", dir}, // --keys missing
	} {
		if code, _, errOut := runCmd(t, args...); code != 2 || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: exit %d, want 2 with the usage: %s", args, code, errOut)
		}
	}
	policyDir := filepath.Join(dir, "policy")
	mustRun(t, "policy", "init", policyDir)
	for _, args := range [][]string{
		{"policy", "check", "--json", policyDir}, {"policy", "check", policyDir, "--json"}, {"policy", "check", "--", policyDir},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("%v: exit %d %s %s", args, code, out, errOut)
		}
	}
}

// TestCompletion: cobra's completion scripts for the four shells, on stdout; the bash one
// completes govgate's own commands through `govgate __complete`, which answers them.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := runCmd(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "govgate") || errOut != "" {
			t.Errorf("completion %s: exit %d, %d bytes, %s", sh, code, len(out), errOut)
		}
	}
	if _, out, _ := runCmd(t, "completion", "bash"); !strings.Contains(out, "__start_govgate") || !strings.Contains(out, "__complete") {
		t.Errorf("bash completion:\n%.400s", out)
	}
	code, out, _ := runCmd(t, "__complete", "audit", "")
	for _, w := range []string{"verify", "proof", "report", "export"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("__complete audit: exit %d lacks %s:\n%s", code, w, out)
		}
	}
	if _, out, _ := runCmd(t, "__complete", "certs", "issue", "--v"); !strings.Contains(out, "--valid") {
		t.Errorf("__complete certs issue --v:\n%s", out)
	}
}
