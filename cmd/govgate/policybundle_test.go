package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
	shipped "github.com/govgate/govgate/rego"
)

// TestPolicyBuildAndSign: `policy build` then `policy sign` with an officer's files make a
// bundle the gateway's verifier accepts; a non-officer's certificate is refused at signing,
// and a key readable by others is refused.
func TestPolicyBuildAndSign(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policy")
	if err := shipped.WriteTo(pdir); err != nil {
		t.Fatal(err)
	}
	pki := bundletest.NewPKI(t, "officers root")
	write := func(name string, s *bundletest.Signer, mode os.FileMode) (cert, key string) {
		cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		kp, err := crypto.MarshalPrivateKeyPEM(s.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(cert, crypto.MarshalCertificatePEM(s.Cert), 0o644)
		os.WriteFile(key, kp, mode)
		return cert, key
	}
	out := filepath.Join(dir, "bundle.tar.gz")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"policy", "build", pdir, "--out", out, "--revision", "2026-12-02.1"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("policy build: %d %s", code, stderr.String())
	}
	cert, key := write("officer", pki.Officer(t), 0o600)
	if code := run(t.Context(), []string{"policy", "sign", out, "--cert", cert, "--key", key, "--audience", bundletest.Audience}, &stdout, &stderr); code != exitOK {
		t.Fatalf("policy sign: %d %s", code, stderr.String())
	}
	b, _ := os.ReadFile(out)
	sig, err := os.ReadFile(out + bundle.SignatureSuffix)
	if err != nil {
		t.Fatal(err)
	}
	v, err := bundle.NewVerifier([]string{pki.CAFile}, "", bundletest.Audience)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(b, sig, time.Now()); err != nil {
		t.Fatalf("the signed bundle does not verify: %v", err)
	}
	if l, err := bundle.Read(b); err != nil || l.Revision != "2026-12-02.1" {
		t.Fatalf("read: %v %+v", err, l)
	}

	acert, akey := write("auditor", pki.Issue(t, "auditor", "", "auditor"), 0o600)
	stderr.Reset()
	if code := run(t.Context(), []string{"policy", "sign", out, "--cert", acert, "--key", akey, "--audience", bundletest.Audience}, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "security-officer") {
		t.Fatalf("an auditor signed: %d %s", code, stderr.String())
	}
	ocert, okey := write("loose", pki.Officer(t), 0o644)
	stderr.Reset()
	if code := run(t.Context(), []string{"policy", "sign", out, "--cert", ocert, "--key", okey, "--audience", bundletest.Audience}, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "0600") {
		t.Fatalf("a key readable by others: %d %s", code, stderr.String())
	}
	// No --audience: a usage error, not a signature any fleet would take.
	stderr.Reset()
	if code := run(t.Context(), []string{"policy", "sign", out, "--cert", cert, "--key", key}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "--audience") {
		t.Fatalf("sign without --audience: %d %s", code, stderr.String())
	}
	// Signed for another fleet: this fleet's verifier refuses it.
	if code := run(t.Context(), []string{"policy", "sign", out, "--cert", cert, "--key", key, "--audience", "fleet-b"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("policy sign --audience fleet-b: %d %s", code, stderr.String())
	}
	sig, _ = os.ReadFile(out + bundle.SignatureSuffix)
	if _, err := v.Verify(b, sig, time.Now()); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("a bundle signed for fleet-b verified in %s: %v", bundletest.Audience, err)
	}
	if code := run(t.Context(), []string{"policy", "build", "--out", out}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("build without DIR: %d", code)
	}
}
