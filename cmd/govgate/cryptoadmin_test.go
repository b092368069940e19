package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/internal/vaulttest"
)

// mustRun runs a command that must succeed and returns its output.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s %s", args, code, stdout, stderr)
	}
	return stdout
}

// TestCryptoAdminArgsAnyOrder runs the commands with a positional argument with their
// flags before and after it, and commands without one refuse a stray argument wherever
// it is.
func TestCryptoAdminArgsAnyOrder(t *testing.T) {
	dir := t.TempDir()
	ca, keysDir := filepath.Join(dir, "ca"), filepath.Join(dir, "keys")
	mustRun(t, "ca", "init", "--dir", ca)
	mustRun(t, "certs", "issue", "--ca", ca, "--dept", "d1", "--system", "s1", "--out", dir)
	serials := issuedSerials(t, ca)
	if o := mustRun(t, "certs", "revoke", serials[0], "--ca", ca, "--reason", "superseded"); !strings.Contains(o, "revoked "+serials[0]) {
		t.Errorf("revoke SERIAL --ca: %s", o)
	}
	if o := mustRun(t, "certs", "revoke", "--ca", ca, serials[1], "--reason", "superseded"); !strings.Contains(o, "revoked "+serials[1]) {
		t.Errorf("revoke --ca DIR SERIAL --reason: %s", o)
	}
	if o := mustRun(t, "keys", "rotate", "audit-signing", "--dir", keysDir); !strings.Contains(o, "version 1") {
		t.Errorf("keys rotate NAME --dir: %s", o)
	}
	if o := mustRun(t, "keys", "rotate", "--dir", keysDir, "audit-signing"); !strings.Contains(o, "version 2") {
		t.Errorf("keys rotate --dir DIR NAME: %s", o)
	}
	// After "--" a dash is a name, which the key store then refuses as a name.
	if code, _, stderr := runCmd(t, "keys", "rotate", "--dir", keysDir, "--", "-x"); code != 1 || !strings.Contains(stderr, `key name "-x"`) {
		t.Errorf("keys rotate -- -x: %d %s", code, stderr)
	}
	for _, args := range [][]string{
		{"keys", "rotate", "a", "b", "--dir", keysDir},
		{"keys", "list", "--dir", keysDir, "extra"},
		{"certs", "list", "extra", "--ca", ca},
		{"ca", "init", "--dir", filepath.Join(dir, "ca2"), "extra"},
		{"certs", "revoke", serials[0], serials[1], "--ca", ca},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ca2")); err == nil {
		t.Error("ca init with a stray argument created the CA")
	}
}

// issuedSerials returns the serials of issued.jsonl, in issue order.
func issuedSerials(t *testing.T, ca string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ca, "issued.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`"serial":"([0-9a-f]+)"`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestIssueRefusesOverwrite: issuing into --out where a pair of that name exists is
// refused before anything is issued, naming the files, and leaves them as they were;
// --force replaces the whole set.
func TestIssueRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	ca, out := filepath.Join(dir, "ca"), filepath.Join(dir, "out")
	mustRun(t, "ca", "init", "--dir", ca)
	mustRun(t, "certs", "issue", "--ca", ca, "--system", "s1", "--out", out)
	key, _ := os.ReadFile(filepath.Join(out, "s1-sign.key"))
	code, _, stderr := runCmd(t, "certs", "issue", "--ca", ca, "--system", "s1", "--out", out)
	if code != 1 || !strings.Contains(stderr, filepath.Join(out, "s1-sign.key")) || !strings.Contains(stderr, filepath.Join(out, "s1-enc-fullchain.pem")) || !strings.Contains(stderr, "--force") {
		t.Errorf("issue over an existing pair: %d %s", code, stderr)
	}
	// One file left of an old set is enough to refuse.
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o700)
	os.WriteFile(filepath.Join(other, "s1-enc.key"), []byte("old key"), 0o600)
	if code, _, stderr := runCmd(t, "certs", "issue", "--ca", ca, "--system", "s1", "--out", other); code != 1 || !strings.Contains(stderr, "s1-enc.key") || strings.Contains(stderr, "s1-sign.key") {
		t.Errorf("issue over one old key: %d %s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(other, "s1-enc.key")); string(b) != "old key" {
		t.Error("the refused issue changed the old key")
	}
	if now, _ := os.ReadFile(filepath.Join(out, "s1-sign.key")); !bytes.Equal(now, key) {
		t.Error("the refused issue replaced the private key")
	}
	if n := len(issuedSerials(t, ca)); n != 2 {
		t.Errorf("a refused issue recorded certificates: %d in issued.jsonl, want 2", n)
	}
	mustRun(t, "certs", "issue", "--ca", ca, "--system", "s1", "--out", out, "--force")
	if now, _ := os.ReadFile(filepath.Join(out, "s1-sign.key")); bytes.Equal(now, key) {
		t.Error("--force did not replace the key")
	}
	// The set replaced is whole: the new keys go with the new certificates.
	if _, err := tlcp.LoadIdentity(filepath.Join(out, "s1-sign-fullchain.pem"), filepath.Join(out, "s1-sign.key"),
		filepath.Join(out, "s1-enc-fullchain.pem"), filepath.Join(out, "s1-enc.key"), nil); err != nil {
		t.Errorf("the replaced pair: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*.tmp")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// TestRevokeByDeptAndSystem: a system's two certificates, then the rest of its
// department, revoked by name; the CRL and the listing then carry every serial;
// --dry-run revokes nothing; a selection with nothing unrevoked is refused.
func TestRevokeByDeptAndSystem(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	mustRun(t, "ca", "init", "--dir", ca)
	mustRun(t, "certs", "issue", "--ca", ca, "--dept", "110000-shuiwu", "--system", "tax-check", "--out", dir)
	mustRun(t, "certs", "issue", "--ca", ca, "--dept", "110000-shuiwu", "--system", "tax-report", "--out", dir)
	mustRun(t, "certs", "issue", "--ca", ca, "--dept", "110000-rensheju", "--system", "tax-check", "--out", dir, "--name", "rs")
	s := issuedSerials(t, ca) // check sign, enc; report sign, enc; rensheju sign, enc

	o := mustRun(t, "certs", "revoke", "--ca", ca, "--dept", "110000-shuiwu", "--dry-run")
	if strings.Count(o, "would revoke") != 4 || strings.Contains(o, s[4]) {
		t.Errorf("dry run:\n%s", o)
	}
	if _, err := os.Stat(filepath.Join(ca, "revoked.jsonl")); err == nil {
		t.Error("--dry-run revoked")
	}
	o = mustRun(t, "certs", "revoke", "--system", "tax-check", "--ca", ca, "--dept", "110000-shuiwu", "--reason", "keyCompromise")
	if strings.Count(o, "revoked ") != 2 || !strings.Contains(o, s[0]) || !strings.Contains(o, s[1]) || strings.Contains(o, s[4]) {
		t.Errorf("revoke a department's system:\n%s", o)
	}
	o = mustRun(t, "certs", "revoke", "--dept", "110000-shuiwu", "--ca", ca, "--reason", "cessationOfOperation")
	if strings.Count(o, "revoked ") != 2 || !strings.Contains(o, s[2]) || !strings.Contains(o, s[3]) {
		t.Errorf("revoke the rest of the department:\n%s", o)
	}
	if code, _, stderr := runCmd(t, "certs", "revoke", "--dept", "110000-shuiwu", "--ca", ca); code != 1 || !strings.Contains(stderr, "no unrevoked certificate") {
		t.Errorf("revoke a department with nothing left: %d %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "certs", "revoke", "--dept", "110000-typo", "--ca", ca, "--dry-run"); code != 1 || !strings.Contains(stderr, `"110000-typo"`) {
		t.Errorf("dry run of an unknown department: %d %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "certs", "revoke", "--dept", "110000-rensheju", "--ca", ca, "--dry-run", "--reason", "stolen"); code != 1 || !strings.Contains(stderr, "keyCompromise") {
		t.Errorf("dry run with an unknown reason: %d %s", code, stderr)
	}
	for _, args := range [][]string{
		{"certs", "revoke", s[4], "--dept", "110000-rensheju", "--ca", ca},
		{"certs", "revoke", "--ca", ca},
		{"certs", "revoke", s[4], "--dry-run", "--ca", ca},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	crl := filepath.Join(dir, "crl.pem")
	mustRun(t, "certs", "crl", "--ca", ca, "--out", crl)
	ts, err := tlcp.LoadTrust([]string{filepath.Join(ca, "ca.pem")}, []string{crl})
	if err != nil {
		t.Fatal(err)
	}
	for i, serial := range s {
		if ts.Revoked[serial] != (i < 4) {
			t.Errorf("CRL: serial %d (%s) revoked %v", i, serial, ts.Revoked[serial])
		}
	}
	list := mustRun(t, "certs", "list", "--ca", ca)
	if strings.Count(list, "keyCompromise") != 2 || strings.Count(list, "cessationOfOperation") != 2 {
		t.Errorf("list:\n%s", list)
	}
}

// TestValidityInDays: every validity flag takes days, alone or with hours, and prints
// days; other units and non-positive values are refused.
func TestValidityInDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"3650d": 3650 * day, "1d12h": 36 * time.Hour, "36h": 36 * time.Hour, "0d30m": 30 * time.Minute} {
		if got, err := parseValidity(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"1y", "2w", "10", "d", "-1d", "0d", "1d-5h", "1d+5h", "xd", "1.5d", "0h", ""} {
		if got, err := parseValidity(in); err == nil {
			t.Errorf("%q accepted as %v", in, got)
		}
	}
	for d, want := range map[time.Duration]string{3650 * day: "3650d", 36 * time.Hour: "1d12h0m0s", time.Hour: "1h0m0s"} {
		if got := formatValidity(d); got != want {
			t.Errorf("format %v: %s, want %s", d, got, want)
		}
	}
	dir := t.TempDir()
	ca, out := filepath.Join(dir, "ca"), filepath.Join(dir, "out")
	if o := mustRun(t, "ca", "init", "--dir", ca, "--valid", "7300d"); !strings.Contains(o, "valid for 7300d") {
		t.Errorf("ca init: %s", o)
	}
	if o := mustRun(t, "certs", "issue", "--ca", ca, "--system", "s1", "--out", out, "--valid", "90d"); !strings.Contains(o, "valid for 90d") {
		t.Errorf("certs issue: %s", o)
	}
	id, err := tlcp.LoadIdentity(filepath.Join(out, "s1-sign-fullchain.pem"), filepath.Join(out, "s1-sign.key"), filepath.Join(out, "s1-enc-fullchain.pem"), filepath.Join(out, "s1-enc.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(id.SignCert.NotAfter); left < 89*day || left > 91*day {
		t.Errorf("90d certificate valid for %v", left)
	}
	mustRun(t, "certs", "crl", "--ca", ca, "--out", filepath.Join(dir, "crl.pem"), "--valid", "1d12h")
	// A certificate cannot outlive its CA: asked for longer, it ends with the CA, and says so.
	if o := mustRun(t, "certs", "issue", "--ca", ca, "--system", "long", "--out", out, "--valid", "9000d"); !strings.Contains(o, "cut to the CA's own expiry") {
		t.Errorf("issue past the CA's expiry: %s", o)
	}
	long, err := tlcp.LoadIdentity(filepath.Join(out, "long-sign-fullchain.pem"), filepath.Join(out, "long-sign.key"), filepath.Join(out, "long-enc-fullchain.pem"), filepath.Join(out, "long-enc.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(long.EncCert.NotAfter); left > 7300*day {
		t.Errorf("a leaf outlives its 7300d CA: %v", left)
	}
	for _, args := range [][]string{
		{"certs", "issue", "--ca", ca, "--system", "s2", "--out", out, "--valid", "1y"},
		{"certs", "crl", "--ca", ca, "--out", filepath.Join(dir, "crl.pem"), "--valid", "0d"},
		{"ca", "init", "--dir", filepath.Join(dir, "ca2"), "--valid", "10w"},
	} {
		if code, _, stderr := runCmd(t, args...); code != 2 || !strings.Contains(stderr, "3650d") {
			t.Errorf("%v: exit %d %s", args, code, stderr)
		}
	}
	if help := mustHelp(t, "certs", "issue", "-h"); !strings.Contains(help, `(default 365d)`) || strings.Contains(help, "8760h") {
		t.Errorf("certs issue -h:\n%s", help)
	}
}

// mustHelp is the help args ask for, which goes to stdout and nothing to stderr.
func mustHelp(t *testing.T, args ...string) string {
	t.Helper()
	code, o, e := runCmd(t, args...)
	if code != 0 || e != "" {
		t.Fatalf("%v: exit %d, stderr %q", args, code, e)
	}
	return o
}

// TestNoDemoVaultPrefix: production commands carry no demo default for the Vault prefix
// and refuse Vault without one, before contacting it.
func TestNoDemoVaultPrefix(t *testing.T) {
	for _, args := range [][]string{{"keys", "list", "-h"}, {"keys", "rotate", "-h"}, {"certs", "rotate", "-h"}} {
		if e := mustHelp(t, args...); strings.Contains(e, "gw-demo") || !strings.Contains(e, "--vault-prefix") {
			t.Errorf("%v:\n%s", args, e)
		}
	}
	t.Setenv("VAULT_TOKEN", "not-used")
	for _, args := range [][]string{
		{"keys", "list", "--vault-addr", "http://127.0.0.1:1"},
		{"keys", "rotate", "audit-signing", "--vault-addr", "http://127.0.0.1:1"},
	} {
		if code, _, e := runCmd(t, args...); code != 1 || !strings.Contains(e, "--vault-prefix is required") {
			t.Errorf("%v: %d %s", args, code, e)
		}
	}
}

// TestKeysListVersions: keys list shows every version with its creation time and marks
// the newest as in use, in a file store and in a real Vault.
func TestKeysListVersions(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("VAULT_TOKEN", v.Token)
	dir := filepath.Join(t.TempDir(), "keys")
	for _, store := range [][]string{{"--dir", dir}, {"--vault-addr", v.Addr, "--vault-prefix", "govgate/gw-prod-07"}} {
		for i := 0; i < 3; i++ {
			mustRun(t, append([]string{"keys", "rotate", "audit-signing"}, store...)...)
		}
		mustRun(t, append([]string{"keys", "rotate", "tlcp-sign"}, store...)...)
		o := mustRun(t, append([]string{"keys", "list"}, store...)...)
		rows := regexp.MustCompile(`(?m)^(\S+)\s+(\d+)\s+(\d{4}-\d\d-\d\dT\S+Z)\s+(in use|old)$`).FindAllStringSubmatch(o, -1)
		var got []string
		for _, r := range rows {
			got = append(got, r[1]+"/"+r[2]+"/"+r[4])
		}
		want := "audit-signing/1/old audit-signing/2/old audit-signing/3/in use tlcp-sign/1/in use"
		if strings.Join(got, " ") != want {
			t.Errorf("%v: keys list:\n%s", store, o)
		}
	}
	// Another gateway's prefix holds none of these keys.
	if o := mustRun(t, "keys", "list", "--vault-addr", v.Addr, "--vault-prefix", "govgate/gw-other"); strings.Contains(o, "audit-signing") {
		t.Errorf("another prefix:\n%s", o)
	}
}
