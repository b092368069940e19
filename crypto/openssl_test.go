package crypto

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests hold govgate's SM2/SM3 to the OpenSSL 3 command line on the machine, an
// implementation written by other people.

func openssl(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("SKIPPED LOUDLY: no openssl on PATH; interoperability is untested here")
	}
}

func TestOpenSSLSM3(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	data := bytes.Repeat([]byte("政务数据共享 "), 1000)
	os.WriteFile(filepath.Join(dir, "data"), data, 0o600)
	out := openssl(t, dir, "dgst", "-sm3", "-r", "data")
	want := strings.Fields(string(out))[0]
	got := SM3(data)
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("SM3 = %x, openssl says %s", got, want)
	}
}

func TestOpenSSLSignaturesBothWays(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	msg := []byte("GET /population/v1/persons?id=110101199003077777")
	os.WriteFile(filepath.Join(dir, "msg"), msg, 0o600)

	// openssl signs, govgate verifies.
	openssl(t, dir, "genpkey", "-algorithm", "SM2", "-out", "ossl.pem")
	pemKey, _ := os.ReadFile(filepath.Join(dir, "ossl.pem"))
	osslKey, err := ParsePrivateKeyPEM(pemKey, nil)
	if err != nil {
		t.Fatalf("govgate cannot read an openssl SM2 key: %v", err)
	}
	openssl(t, dir, "pkeyutl", "-sign", "-inkey", "ossl.pem", "-in", "msg", "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:"+DefaultUserID, "-out", "ossl.sig")
	sig, _ := os.ReadFile(filepath.Join(dir, "ossl.sig"))
	v, _ := NewVerifier(&osslKey.PublicKey)
	if err := v.Verify(msg, sig); err != nil {
		t.Fatalf("openssl's signature: %v", err)
	}
	if v.Verify(append(msg, '!'), sig) == nil {
		t.Fatal("openssl's signature verified over another message")
	}

	// govgate signs, openssl verifies.
	key, _ := GenerateKey()
	pub, _ := MarshalPublicKeyPEM(&key.PublicKey)
	os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o600)
	ours, err := NewSigner(key).Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ours.sig"), ours, 0o600)
	out := openssl(t, dir, "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-in", "msg", "-rawin",
		"-digest", "sm3", "-pkeyopt", "distid:"+DefaultUserID, "-sigfile", "ours.sig")
	if !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Fatalf("openssl: %s", out)
	}
	// And openssl reads the key we write.
	plain, _ := MarshalPrivateKeyPEM(key, nil)
	os.WriteFile(filepath.Join(dir, "ours.pem"), plain, 0o600)
	openssl(t, dir, "pkey", "-in", "ours.pem", "-noout")
}

func TestOpenSSLCertificateParses(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "SM2", "-out", "k.pem")
	openssl(t, dir, "req", "-x509", "-new", "-key", "k.pem", "-subj", "/CN=hukou-sync/O=110000-gongan",
		"-sm3", "-sigopt", "distid:"+DefaultUserID, "-days", "1", "-out", "c.pem")
	data, _ := os.ReadFile(filepath.Join(dir, "c.pem"))
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	c := certs[0]
	if c.Subject.CommonName != "hukou-sync" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	if _, err := SM2PublicKey(c); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Fatalf("self-signature of openssl's SM2 certificate: %v", err)
	}
}
