package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// callDemo is a running demo and the files a department calls it with.
type callDemo struct {
	dir, base, admin, keys string
	ca, cert, key          string
}

func startCallDemo(t *testing.T) *callDemo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", dir}, &out, &errOut)
	}()
	t.Cleanup(func() { cancel(); <-done })
	gwRe := regexp.MustCompile(`(https://localhost:\d+)/population`)
	adminRe := regexp.MustCompile(`admin API:\s+(http://\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		g, a := gwRe.FindStringSubmatch(out.String()), adminRe.FindStringSubmatch(out.String())
		if g != nil && a != nil {
			return &callDemo{dir: dir, base: g[1], admin: a[1], keys: filepath.Join(dir, demoAuditorKeys),
				ca: dir + "/ca/ca.pem", cert: dir + "/rensheju-sign-fullchain.pem," + dir + "/rensheju-enc-fullchain.pem",
				key: dir + "/rensheju-sign.key," + dir + "/rensheju-enc.key"}
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *callDemo) creds() []string {
	return []string{"--ca", d.ca, "--cert", d.cert, "--key", d.key}
}

func (d *callDemo) person() string { return d.base + "/population/v1/persons?id=110101199003077777" }

// TestCallVerifiesReceiptWithoutTheAdminAPI: --verify-receipt checks the receipt with the
// checkpoint and proof of the data listener called, with no --audit-url; a key copy that
// is not the log's is refused. --verify-receipt without --audit-keys, or with keys that
// cannot be read, is refused before anything is sent (the URL here is unreachable: a
// request sent first would fail to connect instead).
func TestCallVerifiesReceiptWithoutTheAdminAPI(t *testing.T) {
	for _, args := range [][]string{
		{"call", "--verify-receipt", "https://127.0.0.1:1/x"},
		{"call", "--verify-receipt", "--audit-keys", "/nonexistent/keys.json", "https://127.0.0.1:1/x"},
	} {
		code, _, errOut := runCmd(t, args...)
		if code == 0 || !strings.Contains(errOut, "audit-keys") || strings.Contains(errOut, "connect") || strings.Contains(errOut, "dial") {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
	d := startCallDemo(t)
	code, out, errOut := runCmd(t, append(append([]string{"call", "--verify-receipt", "--audit-keys", d.keys}, d.creds()...), d.person())...)
	if code != 0 || !strings.Contains(errOut, "receipt verified") || !strings.Contains(out, "张伟") {
		t.Fatalf("verify on the data listener: exit %d: %s %s", code, out, errOut)
	}
	// Keys of another log (the live log's own file is the right one; a made-up one is not).
	bad := filepath.Join(t.TempDir(), "keys.json")
	b, err := os.ReadFile(d.keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, regexp.MustCompile(`"public_key":\s*"[^"]+"`).ReplaceAll(b, []byte(`"public_key":"BFl1"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, append(append([]string{"call", "--verify-receipt", "--audit-keys", bad}, d.creds()...), d.person())...); code == 0 {
		t.Errorf("a receipt verified with a made-up key set: %s", errOut)
	}
	// -w '%{json}': the status, request id, receipt and the receipt's verdict as one JSON
	// object, written after the check; the exit status still tells the verdict. The other
	// key set is a real one, of another log: it loads, and the receipt does not verify.
	otherLog := t.TempDir()
	auditTestLog(t, otherLog, auditTestSigner(t)).Close()
	other := trustedKeys(t, otherLog)
	for _, c := range []struct {
		keys     string
		code     int
		verified bool
	}{{d.keys, 0, true}, {other, 1, false}} {
		body := filepath.Join(t.TempDir(), "body")
		code, out, errOut := runCmd(t, append(append([]string{"call", "--verify-receipt", "--audit-keys", c.keys, "-s", "-o", body, "-w", "%{json}"}, d.creds()...), d.person())...)
		var cj struct {
			HTTPCode        int    `json:"http_code"`
			RequestID       string `json:"request_id"`
			Receipt         string `json:"receipt"`
			ReceiptVerified *bool  `json:"receipt_verified"`
		}
		if err := json.Unmarshal([]byte(out), &cj); err != nil || code != c.code || cj.HTTPCode != 200 || cj.RequestID == "" || cj.Receipt == "" || cj.ReceiptVerified == nil || *cj.ReceiptVerified != c.verified {
			t.Errorf("-w %%{json} with %s: exit %d %v %q %s", c.keys, code, err, out, errOut)
		}
	}

	t.Run("curl flags", func(t *testing.T) { testCurlFlags(t, d) })
	t.Run("credentials from env and profile", func(t *testing.T) { testCallCredentials(t, d) })
}

func testCurlFlags(t *testing.T, d *callDemo) {
	// The URL first, -s, -o FILE, -w: only the write-out on stdout, nothing on stderr.
	file := filepath.Join(t.TempDir(), "body.json")
	code, out, errOut := runCmd(t, append([]string{"call", d.person(), "-s", "-o", file, "-w", `%{http_code} %header{content-type}\n`}, d.creds()...)...)
	body, _ := os.ReadFile(file)
	if code != 0 || out != "200 application/json; charset=utf-8\n" || errOut != "" || !strings.Contains(string(body), "张伟") {
		t.Errorf("-s -o -w: exit %d stdout %q stderr %q body %s", code, out, errOut, body)
	}
	// -i: a real status line and the header fields.
	code, out, _ = runCmd(t, append([]string{"call", "-i", d.person()}, d.creds()...)...)
	if code != 0 || !strings.HasPrefix(out, "HTTP/1.1 200 OK\n") || !strings.Contains(out, "\nX-Govgate-Receipt: ") {
		t.Errorf("-i: exit %d %q", code, out)
	}
	// -f on a denial: no body, exit 1; --fail-with-body: the body.
	denied := d.base + "/enterprise/v1/companies"
	code, out, _ = runCmd(t, append([]string{"call", "-fs", denied}, d.creds()...)...)
	if code != 1 || out != "" {
		t.Errorf("-fs on a denial: exit %d %q", code, out)
	}
	code, out, _ = runCmd(t, append([]string{"call", "--fail-with-body", denied}, d.creds()...)...)
	// The denial names the agreement in force the department could use, not its expired one.
	if code != 1 || !strings.Contains(out, "PURPOSE_REQUIRED") || !strings.Contains(out, "AGR-2026-0107") || strings.Contains(out, "AGR-2024-0311") {
		t.Errorf("--fail-with-body on a denial: exit %d %q", code, out)
	}
	// --json and --data-binary @file: POST, the content type and accept, shown by -v.
	code, _, errOut = runCmd(t, append([]string{"call", "-v", "--json", `{"id":"1"}`, d.person()}, d.creds()...)...)
	if !strings.Contains(errOut, "> POST /population/v1/persons") || !strings.Contains(errOut, "> Content-Type: application/json") ||
		!strings.Contains(errOut, "> Accept: application/json") || !strings.Contains(errOut, "< HTTP/1.1 ") || !strings.Contains(errOut, "> Signature-Input: ") {
		t.Errorf("-v --json: exit %d %s", code, errOut)
	}
	dataFile := filepath.Join(t.TempDir(), "body.bin")
	os.WriteFile(dataFile, []byte("line1\nline2\n"), 0o644)
	_, _, errOut = runCmd(t, append([]string{"call", "-v", "--data-binary", "@" + dataFile, d.person()}, d.creds()...)...)
	if !strings.Contains(errOut, "> POST ") || !strings.Contains(errOut, "> Content-Length: 12") {
		t.Errorf("-v --data-binary @file: %s", errOut)
	}
	// Refused: an unknown write-out variable, two bodies.
	if code, _, errOut := runCmd(t, append([]string{"call", "-w", "%{speed_download}", d.person()}, d.creds()...)...); code == 0 || !strings.Contains(errOut, "speed_download") {
		t.Errorf("-w with an unknown variable: exit %d %s", code, errOut)
	}
	if code, _, _ := runCmd(t, append([]string{"call", "--json", "{}", "-d", "x", d.person()}, d.creds()...)...); code != 2 {
		t.Errorf("--json and -d: exit %d", code)
	}
	// http:// to the TLCP port: said so.
	code, _, errOut = runCmd(t, append([]string{"call", strings.Replace(d.person(), "https://", "http://", 1)}, d.creds()...)...)
	if code != 1 || !strings.Contains(errOut, "the server speaks TLCP/TLS; use https://") || strings.Contains(errOut, "whitespace") {
		t.Errorf("http:// to a TLCP port: exit %d %s", code, errOut)
	}
	// An admin API answer: no receipt, said why; no empty request id.
	_, _, errOut = runCmd(t, append([]string{"call", d.admin + "/audit/checkpoint"}, d.creds()...)...)
	if !strings.Contains(errOut, "receipt: none (an admin API answer") || strings.Contains(errOut, "request-id: \n") || strings.Contains(errOut, "without its audit stage") {
		t.Errorf("admin call: %s", errOut)
	}
}

func testCallCredentials(t *testing.T, d *callDemo) {
	// From the environment.
	t.Setenv("GOVGATE_CA", d.ca)
	t.Setenv("GOVGATE_CERT", d.cert)
	t.Setenv("GOVGATE_KEY", d.key)
	if code, out, errOut := runCmd(t, "call", "-s", d.person()); code != 0 || !strings.Contains(out, "张伟") {
		t.Errorf("credentials from the environment: exit %d %s %s", code, out, errOut)
	}
	// A flag wins over the environment.
	if code, _, _ := runCmd(t, "call", "-s", "--ca", "/nonexistent/ca.pem", d.person()); code == 0 {
		t.Error("--ca did not win over GOVGATE_CA")
	}
	t.Setenv("GOVGATE_CA", "")
	t.Setenv("GOVGATE_CERT", "")
	t.Setenv("GOVGATE_KEY", "")
	// From a profile, relative paths relative to the file; --audit-keys too.
	pdir := t.TempDir()
	profile := filepath.Join(pdir, "profile.yaml")
	rel := func(p string) string { r, _ := filepath.Rel(pdir, p); return r }
	certs := strings.Split(d.cert, ",")
	keys := strings.Split(d.key, ",")
	yaml := fmt.Sprintf("profiles:\n  rensheju:\n    ca: %s\n    cert: %s,%s\n    key: %s,%s\n    audit_keys: %s\n  broken:\n    ca: /nonexistent/ca.pem\n",
		rel(d.ca), rel(certs[0]), rel(certs[1]), rel(keys[0]), rel(keys[1]), d.keys)
	if err := os.WriteFile(profile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOVGATE_PROFILE_FILE", profile)
	if code, out, errOut := runCmd(t, "call", "--profile", "rensheju", "--verify-receipt", d.person()); code != 0 || !strings.Contains(out, "张伟") || !strings.Contains(errOut, "receipt verified") {
		t.Errorf("credentials from a profile: exit %d %s %s", code, out, errOut)
	}
	// Refused: a profile that is not in the file (naming those that are), no credentials.
	if code, _, errOut := runCmd(t, "call", "--profile", "nosuch", d.person()); code == 0 || !strings.Contains(errOut, "rensheju") {
		t.Errorf("an unknown profile: exit %d %s", code, errOut)
	}
	if code, _, _ := runCmd(t, "call", "--profile", "broken", d.person()); code == 0 {
		t.Error("a profile with a missing CA file called the gateway")
	}
	t.Setenv("GOVGATE_PROFILE_FILE", filepath.Join(pdir, "none.yaml"))
	if code, _, errOut := runCmd(t, "call", d.person()); code != 2 || !strings.Contains(errOut, "GOVGATE_CA") {
		t.Errorf("no credentials: exit %d %s", code, errOut)
	}
}
