package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto/tlcp"
)

// syncBuffer is an output the command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestUsageAndErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "demo") {
		t.Errorf("no command: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"nonsense"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "nonsense"`) {
		t.Errorf("unknown command: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"serve", "--no-such-flag"}, &out, &errOut); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"serve", "-c", "/nonexistent/govgate.yaml"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "/nonexistent/govgate.yaml") {
		t.Errorf("missing config: exit %d, %s", code, errOut.String())
	}
}

func TestConfigCommandPrintsDefaults(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "-c", "../../examples/govgate.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "gw-beijing-ext-01") || !strings.Contains(out.String(), "REDACTED") || strings.Contains(out.String(), "replace-with-the-provider-token") {
		t.Errorf("config output:\n%s", out.String())
	}
}

// TestDemoAnswersThroughTheGateway runs `govgate demo` as the README says (on free ports,
// with a fresh data directory), calls the gateway over TLCP with a demo department's
// certificates and an SM2-signed request, as `govgate call` does, and stops it.
func TestDemoAnswersThroughTheGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", dir}, &out, &errOut)
	}()
	gwRe := regexp.MustCompile(`(https://localhost:\d+)/population`)
	deadline := time.Now().Add(20 * time.Second)
	var base string
	for base == "" {
		if m := gwRe.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("demo did not start:\n%s\n%s", out.String(), errOut.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// call runs govgate call as the social insurance bureau; it exits 1 when the gateway
	// refuses, 0 when it answers 2xx.
	call := func(extra ...string) string {
		t.Helper()
		var callOut, callErr bytes.Buffer
		args := append([]string{"call", "-i", "--ca", dir + "/ca/ca.pem",
			"--cert", dir + "/rensheju-sign-fullchain.pem," + dir + "/rensheju-enc-fullchain.pem",
			"--key", dir + "/rensheju-sign.key," + dir + "/rensheju-enc.key"}, extra...)
		code := run(ctx, args, &callOut, &callErr)
		if refused := !strings.HasPrefix(callOut.String(), "2"); code != map[bool]int{false: 0, true: 1}[refused] {
			t.Fatalf("govgate call %v: exit %d: %s %s", extra, code, callOut.String(), callErr.String())
		}
		return callOut.String()
	}
	// Basic information, shared with every department.
	if out := call(base + "/population/v1/persons?id=110101199003077777"); !strings.Contains(out, "张伟") || !strings.HasPrefix(out, "200") {
		t.Fatalf("population: %s", out)
	}
	// Business information under an agreement: cut down to its fields, masked.
	enterprise := call("--agreement", "AGR-2026-0107", "--purpose", "social-insurance-check", base+"/enterprise/v1/companies?uscc=91110108MA01A2B3C4")
	if !strings.HasPrefix(enterprise, "200") || !strings.Contains(enterprise, `"legal_representative":"陈*"`) || strings.Contains(enterprise, "business_scope") || strings.Contains(enterprise, "registered_capital") {
		t.Errorf("enterprise under agreement: %s", enterprise)
	}
	// Denied with its reason.
	if out := call("--agreement", "AGR-2024-0311", "--purpose", "social-insurance-check", base+"/enterprise/v1/companies"); !strings.HasPrefix(out, "403") || !strings.Contains(out, "AGREEMENT_EXPIRED") {
		t.Errorf("expired agreement: %s", out)
	}
	// Blocked by the label the provider put on the response.
	if out := call(base + "/population/v1/persons?id=110108196505050011"); !strings.HasPrefix(out, "403") || !strings.Contains(out, "LABEL_ABOVE_CEILING") || strings.Contains(out, "赵建国") {
		t.Errorf("secret record: %s", out)
	}
	// Each suite can be asked for; the gateway answers on it.
	for _, suite := range []string{"ECC_SM4_CBC_SM3", "ECC_SM4_GCM_SM3", "ECDHE_SM4_CBC_SM3", "ECDHE_SM4_GCM_SM3"} {
		if out := call("--suite", suite, base+"/population/v1/persons?id=110101199003077777"); !strings.HasPrefix(out, "200") {
			t.Errorf("call --suite %s: %s", suite, out)
		}
	}
	// The catalog this department may see.
	if out := call(base + "/.well-known/govgate/catalog"); !strings.HasPrefix(out, "200") || !strings.Contains(out, "enterprise.registration") || strings.Contains(out, "case_records") {
		t.Errorf("catalog: %s", out)
	}
	// The load generator, as a department: TLCP, every request SM2-signed.
	lcode, lout, lerr := runCmd(t, "loadtest", "-q", "--requests", "200", "--presign", "150", "--conns", "4", "--suites", "ECDHE_SM4_GCM_SM3,ECC_SM4_CBC_SM3", "--ca", dir+"/ca/ca.pem",
		"--cert", dir+"/rensheju-sign-fullchain.pem,"+dir+"/rensheju-enc-fullchain.pem", "--key", dir+"/rensheju-sign.key,"+dir+"/rensheju-enc.key",
		base+"/population/v1/persons?id=110101199003077777")
	if lcode != 0 || !strings.Contains(lout, "over tlcp: closed loop, 4 connections") || !strings.Contains(lout, "200 requests") || !strings.Contains(lout, ", 200 ok") {
		t.Errorf("loadtest: %d %s %s", lcode, lout, lerr)
	}
	// The receipt of an exchange verifies against a signed checkpoint and an inclusion proof.
	adminRe := regexp.MustCompile(`admin API:\s+(http://\S+)`)
	m := adminRe.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no admin address in %s", out.String())
	}
	// The demo prints the auditor's copy of the keys, taken out of the log at start.
	keys := dir + "/" + demoAuditorKeys
	if !strings.Contains(out.String(), "--keys "+keys) || strings.Contains(out.String(), "/audit/keys.json") {
		t.Errorf("the demo's commands verify against the keys inside the log:\n%s", out.String())
	}
	call("--verify-receipt", "--audit-url", m[1], "--audit-keys", keys, base+"/population/v1/persons?id=110101199003077777")
	// What the audit disk adds to each exchange is on /metrics: the exchanges above were
	// committed, in as many group commits or fewer.
	resp, err := http.Get(m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var commits, records float64
	for _, line := range strings.Split(string(metrics), "\n") {
		fmt.Sscanf(line, "govgate_audit_commit_duration_seconds_count %g", &commits)
		fmt.Sscanf(line, "govgate_audit_records_total %g", &records)
	}
	if records < 200 || commits < 1 || commits > records {
		t.Errorf("%v audit records in %v commits:\n%s", records, commits, metrics)
	}
	// The cryptography administrator rotates the audit key while the demo runs: the next
	// checkpoints are signed with it, and the key set names both.
	if code, rout, rerr := runCmd(t, "keys", "rotate", "audit-signing", "--dir", dir+"/keys"); code != 0 || !strings.Contains(rout, "version 2") {
		t.Fatalf("keys rotate: %d %s %s", code, rout, rerr)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		ks, err := audit.LoadKeySet(dir + "/audit/keys.json")
		if err == nil && len(ks.Keys) == 2 {
			// Both keys sign under the log's origin (C2SP tlog-checkpoint).
			if ks.Keys[0].Name != "govgate/gw-demo-01" || ks.Keys[1].Name != "govgate/gw-demo-01" {
				t.Errorf("audit keys are named %q and %q, want the origin", ks.Keys[0].Name, ks.Keys[1].Name)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotated audit key was not picked up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The auditor's copy still has the old key only: checkpoints signed with the new one
	// are refused until the administrator hands the auditor the new key set.
	if code, _, _ := runCmd(t, "call", "--ca", dir+"/ca/ca.pem", "--cert", dir+"/rensheju-sign-fullchain.pem,"+dir+"/rensheju-enc-fullchain.pem", "--key", dir+"/rensheju-sign.key,"+dir+"/rensheju-enc.key",
		"--verify-receipt", "--audit-url", m[1], "--audit-keys", keys, base+"/population/v1/persons?id=110101199003077777"); code == 0 {
		t.Error("a receipt under the rotated key verified against the auditor's stale key copy")
	}
	if b, err := os.ReadFile(dir + "/audit/keys.json"); err != nil || os.WriteFile(keys, b, 0o644) != nil {
		t.Fatalf("hand the auditor the new key set: %v", err)
	}
	call("--verify-receipt", "--audit-url", m[1], "--audit-keys", keys, base+"/population/v1/persons?id=110101199003077777")
	// The cryptography administrator rotates the gateway's pair and revokes the tax
	// bureau's certificate while the demo runs; no restart.
	dial := func(dept string) (string, error) {
		id, err := tlcp.LoadIdentity(dir+"/"+dept+"-sign-fullchain.pem", dir+"/"+dept+"-sign.key", dir+"/"+dept+"-enc-fullchain.pem", dir+"/"+dept+"-enc.key", nil)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := tlcp.LoadTrust([]string{dir + "/ca/ca.pem"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		trust := &tlcp.TrustSource{}
		trust.Store(ts)
		conn, err := tlcp.Dial(ctx, "tcp", strings.TrimPrefix(base, "https://localhost"), tlcp.ClientConfig{Identity: id, Trust: trust, ServerName: "localhost"})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.Peer().SerialHex, nil
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	before, err := dial("rensheju")
	if err != nil {
		t.Fatal(err)
	}
	if code, o, e := runCmd(t, "certs", "rotate", "--ca", dir+"/ca", "--keys", dir+"/keys", "--system", "gw-demo-01", "--dns", "localhost"); code != 0 {
		t.Fatalf("certs rotate: %s %s", o, e)
	}
	eventually("the rotated gateway certificate", func() bool { s, err := dial("rensheju"); return err == nil && s != before })
	shuiwu := regexp.MustCompile(`certs revoke ([0-9a-f]+) `).FindStringSubmatch(out.String())
	if shuiwu == nil {
		t.Fatalf("the demo prints no revoke command:\n%s", out.String())
	}
	if _, err := dial("shuiwu"); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	for _, args := range [][]string{{"certs", "revoke", shuiwu[1], "--ca", dir + "/ca", "--reason", "keyCompromise"}, {"certs", "crl", "--ca", dir + "/ca", "--out", dir + "/crl.pem"}} {
		if code, o, e := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: %s %s", args, o, e)
		}
	}
	eventually("the revoked department to be refused", func() bool { _, err := dial("shuiwu"); return err != nil })
	if _, err := dial("rensheju"); err != nil {
		t.Errorf("after revoking another department: %v", err)
	}
	// Without a client certificate nothing is served: a plain HTTP request gets no answer.
	if resp, err := http.Get(strings.Replace(base, "https://localhost", "http://127.0.0.1", 1) + "/population/v1/persons"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("plain HTTP was answered: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exit %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
	// Offline, an auditor verifies the log the demo wrote and reports on it.
	code, vout, verr := runCmd(t, "audit", "verify", dir+"/audit", "--keys", keys)
	if strings.Contains(verr, "WARNING") {
		t.Errorf("audit verify with the auditor's copy warns: %s", verr)
	}
	if code != 0 || !strings.Contains(vout, "ok: ") || !regexp.MustCompile(`, [1-9][0-9]* consumer signatures`).MatchString(vout) {
		t.Errorf("audit verify: %d %s %s", code, vout, verr)
	}
	code, rout, rerr := runCmd(t, "audit", "report", dir+"/audit", "--by", "consumer,pool,resource,agreement", "--csv")
	if code != 0 || !strings.Contains(rout, "110000-rensheju,enterprise-registry,enterprise.registration,AGR-2026-0107,1,0,0,") {
		t.Errorf("audit report: %d %s %s", code, rout, rerr)
	}
	code, pout, perr := runCmd(t, "audit", "proof", dir+"/audit", "--index", "0", "--keys", keys)
	if code != 0 || !strings.Contains(pout, "record 0 is in log govgate/gw-demo-01") {
		t.Errorf("audit proof: %d %s %s", code, pout, perr)
	}
	// An export of the log the gateway wrote (its one segment never sealed) verifies and
	// proves on its own, up to the checkpoint the gateway signed at shutdown.
	code, eout, eerr := runCmd(t, "audit", "export", dir+"/audit", "--out", dir+"/export")
	if code != 0 || !strings.Contains(eout, "kept apart") {
		t.Fatalf("audit export: %d %s %s", code, eout, eerr)
	}
	if code, o, e := runCmd(t, "audit", "verify", dir+"/export", "--keys", keys); code != 0 || strings.Contains(o, "not yet covered") {
		t.Errorf("audit verify of the export: %d %s %s", code, o, e)
	}
	if code, o, e := runCmd(t, "audit", "proof", dir+"/export", "--index", "0", "--keys", keys); code != 0 || !strings.Contains(o, "record 0 is in log govgate/gw-demo-01") {
		t.Errorf("audit proof of the export: %d %s %s", code, o, e)
	}
}
