package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHelpExitsZeroForEveryCommand: asking for help is never an error, for the top level,
// every command and every group; a group asked for help lists all its subcommands. A
// command line that is wrong stays exit 2.
func TestHelpExitsZeroForEveryCommand(t *testing.T) {
	for _, c := range commands() {
		for _, h := range []string{"-h", "--help"} {
			if code, _, errOut := runCmd(t, c.name, h); code != 0 || !strings.Contains(errOut, "Usage: govgate "+c.name) {
				t.Errorf("govgate %s %s: exit %d\n%s", c.name, h, code, errOut)
			}
		}
	}
	groups := map[string][]string{
		"ca":     {"init", "govgate certs"},
		"certs":  {"issue", "list", "revoke", "crl", "rotate"},
		"keys":   {"list", "rotate"},
		"policy": {"init", "test", "check", "fmt", "eval", "build", "sign"},
		"fleet":  {"status"},
		"audit":  {"verify", "proof", "report", "export"},
	}
	for _, c := range commands() {
		if want, ok := groups[c.name]; ok != c.group {
			t.Errorf("%s: group %v, want %v", c.name, c.group, ok)
		} else if ok {
			_, _, errOut := runCmd(t, c.name, "help")
			for _, w := range want {
				if !strings.Contains(errOut, "  "+w) && !strings.Contains(errOut, w) {
					t.Errorf("govgate %s -h does not list %s:\n%s", c.name, w, errOut)
				}
			}
			// Without a subcommand, or with one that does not exist: a usage error.
			if code, _, _ := runCmd(t, c.name); code != 2 {
				t.Errorf("govgate %s: exit %d, want 2", c.name, code)
			}
			if code, _, _ := runCmd(t, c.name, "nonsense"); code != 2 {
				t.Errorf("govgate %s nonsense: exit %d, want 2", c.name, code)
			}
		}
	}
	if code, _, _ := runCmd(t, "-h"); code != 0 {
		t.Errorf("govgate -h: exit %d", code)
	}
	if code, _, _ := runCmd(t, "ca", "init", "-h"); code != 0 {
		t.Errorf("govgate ca init -h: exit %d", code)
	}
	if code, _, _ := runCmd(t, "ca", "init", "--no-such-flag"); code != 2 {
		t.Errorf("govgate ca init --no-such-flag: exit %d", code)
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
