package crypto

import (
	"bytes"
	"encoding/asn1"
	"testing"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs7"
	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DER of the two key-transport identifiers (tag, length, value), written out by hand.
var (
	derOIDSM2Encrypt = []byte{0x06, 0x09, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03} // 1.2.156.10197.1.301.3
	derOIDGmSSL      = []byte{0x06, 0x09, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x02} // 1.2.156.10197.1.301.2
	derNULL          = []byte{0x05, 0x00}
)

// keyTransportAlgs walks ContentInfo → [0] EnvelopedData → recipientInfos and returns, per
// RecipientInfo, the DER of the keyEncryptionAlgorithm's OID and of whatever follows it
// (the parameters; empty when absent). It is independent of the code under test.
func keyTransportAlgs(t *testing.T, der []byte) (oids, params [][]byte) {
	t.Helper()
	in := cryptobyte.String(der)
	var ci, content, ed, set cryptobyte.String
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.SkipASN1(cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&content, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!content.ReadASN1(&ed, cbasn1.SEQUENCE) ||
		!ed.SkipASN1(cbasn1.INTEGER) ||
		!ed.ReadASN1(&set, cbasn1.SET) {
		t.Fatal("not ContentInfo{EnvelopedData}")
	}
	for !set.Empty() {
		var ri, alg cryptobyte.String
		var oid, rid cryptobyte.String
		var ridTag cbasn1.Tag
		if !set.ReadASN1(&ri, cbasn1.SEQUENCE) ||
			!ri.SkipASN1(cbasn1.INTEGER) ||
			!ri.ReadAnyASN1(&rid, &ridTag) || // IssuerAndSerialNumber or [0] SubjectKeyIdentifier
			!ri.ReadASN1(&alg, cbasn1.SEQUENCE) ||
			!alg.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) ||
			!ri.SkipASN1(cbasn1.OCTET_STRING) || !ri.Empty() {
			t.Fatal("malformed RecipientInfo")
		}
		oids = append(oids, []byte(oid))
		params = append(params, []byte(alg))
	}
	return oids, params
}

func envelopeParties(t *testing.T) (*Certificate, *PrivateKey) {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return selfSigned(t, key, "hukou-sync", smx509.KeyUsageKeyEncipherment|smx509.KeyUsageDataEncipherment), key
}

func TestEnvelopeKeyTransportEncoding(t *testing.T) {
	cert, key := envelopeParties(t)
	cert2, _ := envelopeParties(t)
	content := []byte("residence record")
	for _, tc := range []struct {
		name   string
		opts   *SealOptions // nil: Seal
		oid    []byte
		params []byte
	}{
		{"default", nil, derOIDSM2Encrypt, derNULL},
		{"sm2-3", &SealOptions{KeyTransport: KeyTransportSM2Encrypt}, derOIDSM2Encrypt, derNULL},
		{"gmssl", &SealOptions{KeyTransport: KeyTransportGmSSL}, derOIDGmSSL, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var der []byte
			var err error
			if tc.opts == nil {
				der, err = Seal(content, cert, cert2)
			} else {
				der, err = SealWith(*tc.opts, content, cert, cert2)
			}
			if err != nil {
				t.Fatal(err)
			}
			oids, params := keyTransportAlgs(t, der)
			if len(oids) != 2 {
				t.Fatalf("%d recipient infos, want 2", len(oids))
			}
			for i := range oids {
				if !bytes.Equal(oids[i], tc.oid) {
					t.Errorf("recipient %d: keyEncryptionAlgorithm %x, want %x", i, oids[i], tc.oid)
				}
				if !bytes.Equal(params[i], tc.params) {
					t.Errorf("recipient %d: parameters %x, want %x", i, params[i], tc.params)
				}
			}
			got, err := Open(der, cert, key)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("round trip: %v %q", err, got)
			}
		})
	}
	if _, err := SealWith(SealOptions{KeyTransport: 7}, content, cert); err == nil {
		t.Error("unknown key transport sealed")
	}
}

// TestEnvelopeReadsBothForms opens every identifier × parameter combination, each built from
// a sealed envelope by rewriting bytes in the DER (the two OIDs have the same length).
func TestEnvelopeReadsBothForms(t *testing.T) {
	cert, key := envelopeParties(t)
	content := []byte("residence record")
	withNULL, err := Seal(content, cert) // .301.3 + NULL
	if err != nil {
		t.Fatal(err)
	}
	noParams, err := SealWith(SealOptions{KeyTransport: KeyTransportGmSSL}, content, cert) // .301.2
	if err != nil {
		t.Fatal(err)
	}
	swap := func(der, from, to []byte) []byte {
		t.Helper()
		if bytes.Count(der, from) != 1 {
			t.Fatalf("OID %x occurs %d times", from, bytes.Count(der, from))
		}
		return bytes.Replace(der, from, to, 1)
	}
	for _, tc := range []struct {
		name   string
		der    []byte
		oid    []byte
		params []byte
	}{
		{"301.3+NULL", withNULL, derOIDSM2Encrypt, derNULL},
		{"301.3 absent", swap(noParams, derOIDGmSSL, derOIDSM2Encrypt), derOIDSM2Encrypt, nil},
		{"301.2+NULL", swap(withNULL, derOIDSM2Encrypt, derOIDGmSSL), derOIDGmSSL, derNULL},
		{"301.2 absent", noParams, derOIDGmSSL, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oids, params := keyTransportAlgs(t, tc.der)
			if !bytes.Equal(oids[0], tc.oid) || !bytes.Equal(params[0], tc.params) {
				t.Fatalf("fixture is %x %x, want %x %x", oids[0], params[0], tc.oid, tc.params)
			}
			got, err := Open(tc.der, cert, key)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("open: %v %q", err, got)
			}
		})
	}

	// Refused: an SM2 identifier with a parameter other than NULL, and SM2-1 (signature).
	badParam := swap(withNULL, append(append([]byte{}, derOIDSM2Encrypt...), derNULL...),
		append(append([]byte{}, derOIDSM2Encrypt...), 0x04, 0x00))
	if _, err := Open(badParam, cert, key); err == nil {
		t.Error("opened an envelope whose key transport has an OCTET STRING parameter")
	}
	sign := append(append([]byte{}, derOIDSM2Encrypt[:len(derOIDSM2Encrypt)-1]...), 0x01)
	if _, err := Open(swap(withNULL, derOIDSM2Encrypt, sign), cert, key); err == nil {
		t.Error("opened an envelope whose key transport is 1.2.156.10197.1.301.1 (signature)")
	}
}

// The exported identifiers encode to the bytes the tests compare against.
func TestEnvelopeOIDConstants(t *testing.T) {
	for _, tc := range []struct {
		oid asn1.ObjectIdentifier
		der []byte
	}{{OIDKeyTransportSM2Encrypt, derOIDSM2Encrypt}, {OIDKeyTransportGmSSL, derOIDGmSSL}} {
		got, err := asn1.Marshal(tc.oid)
		if err != nil || !bytes.Equal(got, tc.der) {
			t.Errorf("%v encodes as %x, want %x", tc.oid, got, tc.der)
		}
	}
}

// The rewrite touches keyEncryptionAlgorithm only: re-encoding gmsm's output unchanged gives
// the same bytes, and Seal's default output is exactly gmsm's.
func TestEnvelopeRewriteKeepsBytes(t *testing.T) {
	cert, _ := envelopeParties(t)
	cert2, _ := envelopeParties(t)
	der, err := pkcs7.EncryptSM(pkcs.SM4CBC, []byte("residence record"), []*smx509.Certificate{cert, cert2})
	if err != nil {
		t.Fatal(err)
	}
	same, err := rewriteKeyTransport(der, func(a *algorithmIdentifier) (algorithmIdentifier, error) { return *a, nil })
	if err != nil || !bytes.Equal(same, der) {
		t.Fatalf("identity rewrite changed the envelope (%v)", err)
	}
}
