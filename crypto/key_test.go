package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"testing"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
	"github.com/emmansun/gmsm/smx509"
)

// The DER of every algorithm identifier GmSSL 3 expects in an encrypted key, spelled out as
// bytes so that the check does not go through the code under test.
var (
	derOIDPBES2      = mustHex("06092a864886f70d01050d")     // 1.2.840.113549.1.5.13
	derOIDPBKDF2     = mustHex("06092a864886f70d01050c")     // 1.2.840.113549.1.5.12
	derPRFHMACSM3    = mustHex("300b06092a811ccf5501831102") // SEQUENCE { 1.2.156.10197.1.401.2 }, no parameters
	derOIDSM4CBC     = mustHex("06082a811ccf55016802")       // 1.2.156.10197.1.104.2
	derOIDSMPBES     = mustHex("060a2a811ccf550604010502")   // 1.2.156.10197.6.4.1.5.2, the old form
	derASN1NULL      = []byte{0x05, 0x00}
	tagOctetString   = 0x04
	tagInteger       = 0x02
	sm4BlockSize     = 16
	wantKeyLenForSM4 = 16
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// rawAlg is an AlgorithmIdentifier kept as raw elements, so parameter presence is visible.
type rawAlg struct {
	Algorithm asn1.RawValue
	Params    asn1.RawValue `asn1:"optional"`
}

// decodeEncryptedKey splits an ENCRYPTED PRIVATE KEY into its algorithm elements.
func decodeEncryptedKey(t *testing.T, pemData []byte) (pbes rawAlg, kdf rawAlg, enc rawAlg) {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("not an ENCRYPTED PRIVATE KEY PEM block: %q", pemData)
	}
	var info struct {
		Alg  rawAlg
		Data []byte
	}
	if rest, err := asn1.Unmarshal(block.Bytes, &info); err != nil || len(rest) != 0 {
		t.Fatalf("EncryptedPrivateKeyInfo: %v (%d trailing bytes)", err, len(rest))
	}
	var params struct{ KDF, Enc rawAlg }
	if rest, err := asn1.Unmarshal(info.Alg.Params.FullBytes, &params); err != nil || len(rest) != 0 {
		t.Fatalf("PBES2-params: %v", err)
	}
	return info.Alg, params.KDF, params.Enc
}

// TestEncryptedKeyIsGmSSLPBES2 checks the encoding GmSSL 3 parses: PBES2, PBKDF2 whose PRF
// is hmacWithSM3 with no parameters (GmSSL's pbkdf2_prf_from_der refuses a NULL), a key
// length of 16 if any, and SM4-CBC whose parameter is a 16-byte IV.
func TestEncryptedKeyIsGmSSLPBES2(t *testing.T) {
	key, _ := GenerateKey()
	data, err := MarshalPrivateKeyPEM(key, []byte("密码 password"))
	if err != nil {
		t.Fatal(err)
	}
	pbes, kdf, enc := decodeEncryptedKey(t, data)
	if !bytes.Equal(pbes.Algorithm.FullBytes, derOIDPBES2) {
		t.Errorf("encryption algorithm %x, want PBES2 %x", pbes.Algorithm.FullBytes, derOIDPBES2)
	}
	if !bytes.Equal(kdf.Algorithm.FullBytes, derOIDPBKDF2) {
		t.Errorf("KDF %x, want PBKDF2 %x", kdf.Algorithm.FullBytes, derOIDPBKDF2)
	}
	checkPBKDF2Params(t, kdf.Params.FullBytes)
	if !bytes.Equal(enc.Algorithm.FullBytes, derOIDSM4CBC) {
		t.Errorf("cipher %x, want SM4-CBC %x", enc.Algorithm.FullBytes, derOIDSM4CBC)
	}
	if enc.Params.Tag != tagOctetString || len(enc.Params.Bytes) != sm4BlockSize {
		t.Errorf("SM4-CBC parameter: tag %d, %d bytes; want an OCTET STRING IV of 16", enc.Params.Tag, len(enc.Params.Bytes))
	}
}

// checkPBKDF2Params checks PBKDF2-params element by element.
func checkPBKDF2Params(t *testing.T, der []byte) {
	t.Helper()
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(der, &seq); err != nil || seq.Tag != asn1.TagSequence {
		t.Fatalf("PBKDF2-params: %v", err)
	}
	var elems []asn1.RawValue
	for rest := seq.Bytes; len(rest) > 0; {
		var e asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &e); err != nil {
			t.Fatalf("PBKDF2-params element: %v", err)
		}
		elems = append(elems, e)
	}
	if len(elems) != 4 {
		t.Fatalf("PBKDF2-params has %d elements, want salt, iterations, key length, PRF", len(elems))
	}
	if elems[0].Tag != tagOctetString || len(elems[0].Bytes) < 8 {
		t.Errorf("salt: tag %d, %d bytes", elems[0].Tag, len(elems[0].Bytes))
	}
	var iter, keyLen int
	if _, err := asn1.Unmarshal(elems[1].FullBytes, &iter); err != nil || elems[1].Tag != tagInteger || iter < 10000 {
		t.Errorf("iterations %d: %v", iter, err)
	}
	if _, err := asn1.Unmarshal(elems[2].FullBytes, &keyLen); err != nil || keyLen != wantKeyLenForSM4 {
		t.Errorf("key length %d (GmSSL refuses anything but 16): %v", keyLen, err)
	}
	if !bytes.Equal(elems[3].FullBytes, derPRFHMACSM3) {
		t.Errorf("PRF %x, want %x (hmacWithSM3, parameters absent)", elems[3].FullBytes, derPRFHMACSM3)
	}
	if bytes.Contains(elems[3].FullBytes, derASN1NULL) {
		t.Error("the PRF carries a NULL parameter, which GmSSL refuses")
	}
}

// TestEncryptedKeyOldFormsStillRead: keys written before this form — gmsm's SM-PBES OID
// (1.2.156.10197.6.4.1.5.2), and PBES2 with a NULL on hmacWithSM3 (older GmSSL) — still open.
func TestEncryptedKeyOldFormsStillRead(t *testing.T) {
	key, _ := GenerateKey()
	pw := []byte("old password")
	for name, c := range map[string]struct {
		enc     pkcs.PBESEncrypter
		wantOID []byte
	}{
		"SM-PBES OID (govgate before)": {pkcs.NewSMPBESEncrypterWithKDF(pkcs.NewPBKDF2Opts(pkcs.SM3, 16, 10000)), derOIDSMPBES},
		"PBES2, NULL on the PRF":       {pkcs.NewPBESEncrypter(pkcs.SM4CBC, pkcs.NewPBKDF2Opts(pkcs.SM3, 16, 10000)), derOIDPBES2},
	} {
		der, err := pkcs8.MarshalPrivateKey(key, pw, c.enc)
		if err != nil {
			t.Fatal(err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
		if pbes, _, _ := decodeEncryptedKey(t, data); !bytes.Equal(pbes.Algorithm.FullBytes, c.wantOID) {
			t.Fatalf("%s: the fixture is not the old form (%x)", name, pbes.Algorithm.FullBytes)
		}
		back, err := ParsePrivateKeyPEM(data, pw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !back.Equal(key) {
			t.Fatalf("%s: another key came back", name)
		}
		if _, err := ParsePrivateKeyPEM(data, []byte("wrong")); err == nil {
			t.Fatalf("%s: opened with a wrong password", name)
		}
	}
}

// gmsslEncryptedKey builds, without the code under test, an encrypted key as GmSSL 3's
// sm2_private_key_info_encrypt_to_der lays it out: PBES2, PBKDF2 with a 16-byte salt,
// 65536 iterations, keyLength 16 and hmacWithSM3 without parameters, SM4-CBC with PKCS#7
// padding and its IV.
func gmsslEncryptedKey(t *testing.T, key *PrivateKey, password string) []byte {
	t.Helper()
	info, err := smx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	salt, iv := make([]byte, 16), make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	const iter = 65536
	dk, err := pbkdf2.Key(sm3.New, password, salt, iter, 16)
	if err != nil {
		t.Fatal(err)
	}
	block, err := sm4.NewCipher(dk)
	if err != nil {
		t.Fatal(err)
	}
	pad := sm4BlockSize - len(info)%sm4BlockSize
	ct := append(info, bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)

	seq := func(parts ...[]byte) []byte {
		b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: bytes.Join(parts, nil)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	der := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kdf := seq(derOIDPBKDF2, seq(der(salt), der(iter), der(16), derPRFHMACSM3))
	enc := seq(derOIDSM4CBC, der(iv))
	out := seq(seq(derOIDPBES2, seq(kdf, enc)), der(ct))
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: out})
}

// TestEncryptedKeyGmSSLLayoutRead: a key laid out as GmSSL writes it, built by hand, opens
// with its password and not without it.
func TestEncryptedKeyGmSSLLayoutRead(t *testing.T) {
	key, _ := GenerateKey()
	data := gmsslEncryptedKey(t, key, "gmssl 口令")
	pbes, kdf, _ := decodeEncryptedKey(t, data)
	if !bytes.Equal(pbes.Algorithm.FullBytes, derOIDPBES2) {
		t.Fatal("the fixture is not PBES2")
	}
	checkPBKDF2Params(t, kdf.Params.FullBytes) // the fixture has the layout the writer is held to
	back, err := ParsePrivateKeyPEM(data, []byte("gmssl 口令"))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(key) {
		t.Fatal("another key came back")
	}
	if _, err := ParsePrivateKeyPEM(data, []byte("gmssl")); err == nil {
		t.Fatal("opened with a wrong password")
	}
}
