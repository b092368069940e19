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

// TestOpenSSLParsesEncryptedKey: OpenSSL's own ASN.1 parser sees PBES2, PBKDF2 with
// hmacWithSM3 and no parameter after it, and SM4-CBC. Decryption is not tried: OpenSSL
// 3.0 answers "unsupported prf" for hmacWithSM3 (measured with 3.0.19 here), whatever
// the encoding.
func TestOpenSSLParsesEncryptedKey(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	key, _ := GenerateKey()
	data, err := MarshalPrivateKeyPEM(key, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "key.pem"), data, 0o600)
	var objects []string
	for _, line := range strings.Split(string(openssl(t, dir, "asn1parse", "-in", "key.pem")), "\n") {
		if i := strings.Index(line, "prim: "); i >= 0 {
			f := strings.Fields(line[i+len("prim: "):])
			if len(f) > 0 && (f[0] == "OBJECT" || f[0] == "NULL") {
				objects = append(objects, strings.Join(f, " "))
			}
		}
	}
	want := []string{"OBJECT :PBES2", "OBJECT :PBKDF2", "OBJECT :1.2.156.10197.1.401.2", "OBJECT :sm4-cbc"}
	if strings.Join(objects, "|") != strings.Join(want, "|") {
		t.Fatalf("openssl asn1parse: objects %q, want %q (and no NULL)", objects, want)
	}
}
