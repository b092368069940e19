package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestHelpExitsZeroForEveryCommand walks the whole command tree: asking for help (-h,
// --help, and Go flag's -help) is never an error for the top level, any group or any
// command, and prints that command's usage; every flag has help text; a group asked for
// help (also as "help") lists all its subcommands. A group without a subcommand, or with
// one that does not exist, and an unknown flag anywhere, stay usage errors: 2.
func TestHelpExitsZeroForEveryCommand(t *testing.T) {
	var paths [][]string
	walk(newRoot(io.Discard, io.Discard), func(c *cobra.Command) {
		if c.Hidden || c.Name() == "__complete" {
			return
		}
		path := strings.Fields(c.CommandPath())[1:]
		paths = append(paths, path)
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("govgate %s --%s has no help text", strings.Join(path, " "), f.Name)
			}
		})
	})
	if len(paths) < 30 {
		t.Fatalf("only %d commands in the tree", len(paths))
	}
	for _, path := range paths {
		for _, h := range []string{"-h", "--help", "-help"} {
			code, out, errOut := runCmd(t, append(append([]string{}, path...), h)...)
			if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, strings.Join(append([]string{"govgate"}, path...), " ")) || errOut != "" {
				t.Errorf("govgate %s %s: exit %d\nstdout %q\n%s", strings.Join(path, " "), h, code, out, errOut)
			}
		}
		if len(path) > 0 && path[0] != "help" {
			if code, _, errOut := runCmd(t, append(append([]string{}, path...), "--no-such-flag")...); code != 2 || !strings.Contains(errOut, "unknown flag: --no-such-flag") {
				t.Errorf("govgate %s --no-such-flag: exit %d %s", strings.Join(path, " "), code, errOut)
			}
		}
	}
	groups := map[string][]string{
		"ca":         {"init"},
		"certs":      {"issue", "list", "revoke", "crl", "rotate"},
		"keys":       {"list", "rotate"},
		"policy":     {"init", "test", "check", "fmt", "eval", "build", "sign"},
		"fleet":      {"status"},
		"audit":      {"verify", "proof", "report", "export", "ship", "retain"},
		"completion": {"bash", "zsh", "fish", "powershell"},
	}
	for name, want := range groups {
		for _, h := range []string{"help", "-h"} {
			code, out, _ := runCmd(t, name, h)
			for _, w := range want {
				if code != 0 || !strings.Contains(out, "  "+w) {
					t.Errorf("govgate %s %s: exit %d, does not list %s:\n%s", name, h, code, w, out)
				}
			}
		}
		if name == "completion" {
			continue
		}
		// Without a subcommand, or with one that does not exist: a usage error.
		if code, _, _ := runCmd(t, name); code != 2 {
			t.Errorf("govgate %s: exit %d, want 2", name, code)
		}
		if code, _, errOut := runCmd(t, name, "nonsense"); code != 2 || !strings.Contains(errOut, `unknown command "nonsense"`) {
			t.Errorf("govgate %s nonsense: exit %d %s", name, code, errOut)
		}
	}
	if _, out, _ := runCmd(t, "ca", "-h"); !strings.Contains(out, "govgate certs") {
		t.Errorf("ca -h does not point to govgate certs:\n%s", out)
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"help", "audit", "verify"}, {"ca", "init", "help"}, {"certs", "list", "help"}, {"version", "help"}} {
		if code, out, _ := runCmd(t, args...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("govgate %v: exit %d\n%s", args, code, out)
		}
	}
	// A help topic that names no command is a wrong command line, not help.
	for _, args := range [][]string{{"help", "nonsense"}, {"help", "audit", "nonsense"}, {"help", "audit", "verify", "extra"}} {
		if code, out, errOut := runCmd(t, args...); code != 2 || out != "" || !strings.Contains(errOut, "no command") {
			t.Errorf("govgate %v: exit %d, stdout %q\n%s", args, code, out, errOut)
		}
	}
}

// TestExitStatusIsOneForEveryFailure: a verdict against (failing policy tests) and an
// error (an unreadable policy) exit alike, 1; only a wrong command line exits 2.
func TestExitStatusIsOneForEveryFailure(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCmd(t, "policy", "init", dir); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := runCmd(t, "policy", "test", "--dir", dir+"/no-such-dir"); code != 1 {
		t.Errorf("policy test on a missing dir: exit %d %s", code, errOut)
	}
	writeFile(t, dir+"/authz/broken.rego", "package govgate.authz\n\nallow if {\n")
	if code, _, errOut := runCmd(t, "policy", "test", "--dir", dir); code != 1 {
		t.Errorf("policy test on a parse error: exit %d %s", code, errOut)
	}
	writeFile(t, dir+"/authz/broken.rego", "package govgate.authz_test\n\ntest_fails if false\n")
	if code, out, _ := runCmd(t, "policy", "test", "--dir", dir); code != 1 || !strings.Contains(out, "FAIL") {
		t.Errorf("policy test with a failing test: exit %d %s", code, out)
	}
	if code, _, _ := runCmd(t, "policy", "test", "--dir", dir, "--no-such-flag"); code != 2 {
		t.Errorf("policy test with a bad flag: exit %d", code)
	}
}

// TestVersion: version and --version print the same: the module version, the revision
// (or that there is none), the Go toolchain; values linked in with -X win.
func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	code2, out2, _ := runCmd(t, "--version")
	if code != 0 || code2 != 0 || out != out2 {
		t.Fatalf("version: %d %q; --version: %d %q", code, out, code2, out2)
	}
	for _, want := range []string{"govgate ", "revision: ", "go:       " + runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	linked := buildVersion("v1.4.2", "0123abcd")
	if !strings.HasPrefix(linked, "govgate v1.4.2\n") || !strings.Contains(linked, "revision: 0123abcd\n") {
		t.Errorf("linked version:\n%s", linked)
	}
	if code, _, _ := runCmd(t, "version", "extra"); code != 2 {
		t.Errorf("version extra: exit %d", code)
	}
}

// TestHealthcheck probes a real HTTP server: ready is 2xx only; a 503, a redirect and a
// closed port are not ready (exit 1); --wait rides out a slow start; a bad command line exits 2.
func TestHealthcheck(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		case "/slow":
			if calls.Add(1) < 3 {
				http.Error(w, "audit: not loaded", http.StatusServiceUnavailable)
			}
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if code, out, errOut := runCmd(t, "healthcheck", "--url", srv.URL+"/readyz"); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("ready: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "healthcheck", "--url", srv.URL+"/notready"); code != 1 || !strings.Contains(errOut, "answered 503") {
		t.Errorf("503: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "healthcheck", "--url", srv.URL+"/moved"); code != 1 || !strings.Contains(errOut, "answered 302") {
		t.Errorf("redirect: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "healthcheck", "--url", "http://127.0.0.1:"+freePort(t)+"/readyz"); code != 1 || !strings.Contains(errOut, "not ready") {
		t.Errorf("closed port: %d %s", code, errOut)
	}
	if code, out, errOut := runCmd(t, "healthcheck", "--url", srv.URL+"/slow", "--wait", "30s"); code != 0 || calls.Load() != 3 {
		t.Errorf("--wait: %d after %d probes %s %s", code, calls.Load(), out, errOut)
	}
	if code, _, _ := runCmd(t, "healthcheck", "--url"); code != 2 {
		t.Errorf("--url without a value: exit %d", code)
	}
	if code, _, _ := runCmd(t, "healthcheck", "--url", "::bad"); code != 1 {
		t.Errorf("unparsable URL: exit %d", code)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
