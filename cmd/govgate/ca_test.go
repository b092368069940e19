package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govgate/govgate/crypto/tlcp"
)

// TestCAWorkflow runs the cryptography administrator's commands in order: a root and an
// intermediate, a department's pair, the listing, a revocation, the CRL, and the rotation
// of the gateway's own pair into the key store.
func TestCAWorkflow(t *testing.T) {
	dir := t.TempDir()
	root, inter, out, keysDir := filepath.Join(dir, "root"), filepath.Join(dir, "inter"), filepath.Join(dir, "out"), filepath.Join(dir, "keys")
	must := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s %s", args, code, stdout, stderr)
		}
		return stdout
	}
	must("ca", "init", "--dir", root, "--name", "Beijing Government Root")
	if o := must("ca", "init", "--dir", inter, "--parent", root, "--name", "Beijing Sharing CA"); !strings.Contains(o, "intermediate of Beijing Government Root") {
		t.Errorf("intermediate: %s", o)
	}
	if code, _, stderr := runCmd(t, "ca", "init", "--dir", inter); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("init over an existing CA: %d %s", code, stderr)
	}
	if info, _ := os.Stat(filepath.Join(inter, "ca.key")); info.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %o", info.Mode().Perm())
	}
	must("certs", "issue", "--ca", inter, "--dept", "110000-rensheju", "--system", "pension-review", "--out", out, "--name", "rensheju")
	// The issued pair, its fullchain files (leaf and intermediate, no root), loads as a
	// TLCP identity; cert.pem and chain.pem are its two parts.
	id, err := tlcp.LoadIdentity(filepath.Join(out, "rensheju-sign-fullchain.pem"), filepath.Join(out, "rensheju-sign.key"),
		filepath.Join(out, "rensheju-enc-fullchain.pem"), filepath.Join(out, "rensheju-enc.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(id.Chain) != 1 || id.Chain[0].Subject.CommonName != "Beijing Sharing CA" || id.SignCert.URIs[0].String() != "urn:govgate:dept:110000-rensheju" {
		t.Errorf("identity: chain %d, URIs %v", len(id.Chain), id.SignCert.URIs)
	}
	for _, use := range []string{"sign", "enc"} {
		leaf, _ := os.ReadFile(filepath.Join(out, "rensheju-"+use+"-cert.pem"))
		chain, _ := os.ReadFile(filepath.Join(out, "rensheju-"+use+"-chain.pem"))
		full, _ := os.ReadFile(filepath.Join(out, "rensheju-"+use+"-fullchain.pem"))
		if strings.Count(string(leaf), "BEGIN CERTIFICATE") != 1 || strings.Count(string(chain), "BEGIN CERTIFICATE") != 1 || string(full) != string(leaf)+string(chain) {
			t.Errorf("%s files: cert %d bytes, chain %d, fullchain %d", use, len(leaf), len(chain), len(full))
		}
		if info, _ := os.Stat(filepath.Join(out, "rensheju-"+use+".key")); info.Mode().Perm() != 0o600 {
			t.Errorf("%s key mode %o", use, info.Mode().Perm())
		}
	}
	// With --key-pass-env the keys are written encrypted and open with that password.
	t.Setenv("GOVGATE_TEST_KEY_PASS", "correct horse")
	must("certs", "issue", "--ca", inter, "--system", "gmssl-peer", "--out", out, "--key-pass-env", "GOVGATE_TEST_KEY_PASS")
	if _, err := tlcp.LoadIdentity(filepath.Join(out, "gmssl-peer-sign-fullchain.pem"), filepath.Join(out, "gmssl-peer-sign.key"),
		filepath.Join(out, "gmssl-peer-enc-fullchain.pem"), filepath.Join(out, "gmssl-peer-enc.key"), []byte("correct horse")); err != nil {
		t.Errorf("encrypted pair: %v", err)
	}
	if code, _, stderr := runCmd(t, "certs", "issue", "--ca", inter, "--system", "x", "--out", out, "--key-pass-env", "GOVGATE_TEST_UNSET_VAR"); code != 1 || !strings.Contains(stderr, "empty or unset") {
		t.Errorf("issue with an unset password variable: %d %s", code, stderr)
	}
	serial := id.SignCert.SerialNumber.Text(16)
	list := must("certs", "list", "--ca", inter)
	if strings.Count(list, "110000-rensheju") != 2 || !strings.Contains(list, serial) {
		t.Errorf("list:\n%s", list)
	}
	if code, _, stderr := runCmd(t, "certs", "revoke", "0123", "--ca", inter); code != 1 || !strings.Contains(stderr, "issued no certificate") {
		t.Errorf("revoke of an unknown serial: %d %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "certs", "revoke", serial, "--ca", inter, "--reason", "stolen"); code != 1 || !strings.Contains(stderr, "keyCompromise") {
		t.Errorf("revoke with an unknown reason: %d %s", code, stderr)
	}
	must("certs", "revoke", serial, "--ca", inter, "--reason", "keyCompromise")
	if list := must("certs", "list", "--ca", inter); !strings.Contains(list, "keyCompromise") {
		t.Errorf("list after revoke:\n%s", list)
	}
	crlPath := filepath.Join(dir, "crl.pem")
	must("certs", "crl", "--ca", inter, "--out", crlPath)
	ts, err := tlcp.LoadTrust([]string{filepath.Join(inter, "ca.pem")}, []string{crlPath})
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Revoked[serial] {
		t.Errorf("the CRL does not list %s", serial)
	}
	// A CRL signed by another CA is refused.
	if _, err := tlcp.LoadTrust([]string{filepath.Join(root, "ca.pem")}, []string{crlPath}); err == nil {
		t.Error("a CRL of another CA was accepted")
	}

	o := must("certs", "rotate", "--ca", inter, "--keys", keysDir, "--system", "gw-beijing", "--dns", "gw.example.gov.cn")
	if !strings.Contains(o, "tlcp-sign version 1") {
		t.Errorf("rotate: %s", o)
	}
	must("certs", "rotate", "--ca", inter, "--keys", keysDir, "--system", "gw-beijing", "--dns", "gw.example.gov.cn")
	sign, _ := os.ReadFile(filepath.Join(keysDir, "tlcp-sign", "2.pem"))
	enc, _ := os.ReadFile(filepath.Join(keysDir, "tlcp-enc", "2.pem"))
	gw, err := tlcp.ParseIdentityBundles(sign, enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The bundle's chain is the intermediate alone: the root stays out, as in the issued
	// -chain.pem files.
	if gw.SignCert.DNSNames[0] != "gw.example.gov.cn" || len(gw.Chain) != 1 || gw.Chain[0].Subject.String() == gw.Chain[0].Issuer.String() {
		t.Errorf("rotated pair: %v chain %d", gw.SignCert.DNSNames, len(gw.Chain))
	}
}
