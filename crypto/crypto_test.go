package crypto

import (
	"bytes"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

func asn1Signature(t *testing.T, r, s *big.Int) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// selfSigned makes an SM2 certificate for tests of this package.
func selfSigned(t *testing.T, key *PrivateKey, cn string, usage smx509.KeyUsage) *Certificate {
	t.Helper()
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     usage,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKeyPEMRoundTrip(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "correct horse battery staple"} {
		data, err := MarshalPrivateKeyPEM(key, []byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		if pw != "" && !bytes.Contains(data, []byte("ENCRYPTED PRIVATE KEY")) {
			t.Fatal("password given but key not encrypted")
		}
		back, err := ParsePrivateKeyPEM(data, []byte(pw))
		if err != nil {
			t.Fatalf("password %q: %v", pw, err)
		}
		if !back.Equal(key) {
			t.Fatal("key changed in the round trip")
		}
		if pw != "" {
			_, err := ParsePrivateKeyPEM(data, []byte("wrong"))
			if err == nil || strings.Contains(err.Error(), pw) {
				t.Fatalf("wrong password: %v", err)
			}
			if _, err := ParsePrivateKeyPEM(data, nil); err == nil {
				t.Fatal("encrypted key opened without a password")
			}
		}
	}
	pub, err := MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePublicKeyPEM(pub)
	if err != nil || !back.Equal(&key.PublicKey) {
		t.Fatalf("public key round trip: %v", err)
	}
	for _, bad := range []string{"", "not pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"} {
		if _, err := ParsePrivateKeyPEM([]byte(bad), nil); err == nil {
			t.Errorf("malformed key %q accepted", bad)
		}
	}
}

func TestSignVerify(t *testing.T) {
	key, _ := GenerateKey()
	other, _ := GenerateKey()
	msg := []byte("GET /population/v1/persons")
	sig, err := NewSigner(key).Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(&key.PublicKey)
	if err := v.Verify(msg, sig); err != nil {
		t.Fatal(err)
	}
	vo, _ := NewVerifier(&other.PublicKey)
	if !errors.Is(vo.Verify(msg, sig), ErrBadSignature) {
		t.Error("verified with another key")
	}
	bad := append([]byte(nil), sig...)
	bad[len(bad)-1] ^= 1
	if v.Verify(msg, bad) == nil {
		t.Error("a flipped bit verified")
	}
	if v.Verify(msg, []byte("garbage")) == nil {
		t.Error("garbage verified")
	}
}

func TestHMACAndCompare(t *testing.T) {
	a := HMACSM3([]byte("k"), []byte("m"))
	if len(a) != DigestSize || !EqualMAC(a, HMACSM3([]byte("k"), []byte("m"))) {
		t.Fatal("HMAC-SM3 not deterministic")
	}
	if EqualMAC(a, HMACSM3([]byte("k2"), []byte("m"))) || EqualMAC(a, a[:31]) {
		t.Fatal("different MACs compared equal")
	}
}

func TestSM4GCM(t *testing.T) {
	key := bytes.Repeat([]byte{7}, SM4KeySize)
	a, err := NewSM4GCM(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := a.Seal([]byte("人口基础信息"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := a.Open(sealed, []byte("ad"))
	if err != nil || string(pt) != "人口基础信息" {
		t.Fatalf("open: %v %q", err, pt)
	}
	if _, err := a.Open(sealed, []byte("other")); !errors.Is(err, ErrOpen) {
		t.Error("wrong associated data opened")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := a.Open(sealed, []byte("ad")); !errors.Is(err, ErrOpen) {
		t.Error("tampered ciphertext opened")
	}
	if _, err := a.Open([]byte("short"), nil); !errors.Is(err, ErrOpen) {
		t.Error("short ciphertext opened")
	}
	if _, err := NewSM4GCM(key[:15]); err == nil {
		t.Error("15-byte key accepted")
	}
}

func TestEnvelope(t *testing.T) {
	key, _ := GenerateKey()
	cert := selfSigned(t, key, "hukou-sync", smx509.KeyUsageKeyEncipherment|smx509.KeyUsageDataEncipherment)
	other, _ := GenerateKey()
	otherCert := selfSigned(t, other, "someone-else", smx509.KeyUsageKeyEncipherment)

	content := []byte(`{"name":"张伟","id_number":"110101199003077777"}`)
	der, err := Seal(content, cert)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(der, []byte("110101199003077777")) {
		t.Fatal("envelope holds the plaintext")
	}
	got, err := Open(der, cert, key)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("open: %v %q", err, got)
	}
	if _, err := Open(der, otherCert, other); err == nil {
		t.Error("a non-recipient opened the envelope")
	}
	if _, err := Open([]byte("not DER"), cert, key); err == nil {
		t.Error("garbage opened")
	}
	if _, err := Seal(content); err == nil {
		t.Error("envelope without recipients")
	}
}

func TestParseCertificatesPEM(t *testing.T) {
	key, _ := GenerateKey()
	c := selfSigned(t, key, "a", smx509.KeyUsageDigitalSignature)
	data := append(MarshalCertificatePEM(c), MarshalCertificatePEM(c)...)
	certs, err := ParseCertificatesPEM(data)
	if err != nil || len(certs) != 2 {
		t.Fatalf("%v %d", err, len(certs))
	}
	if _, err := ParseCertificatesPEM([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")); err == nil {
		t.Error("malformed certificate accepted")
	}
	if _, err := SM2PublicKey(c); err != nil {
		t.Error(err)
	}
}
