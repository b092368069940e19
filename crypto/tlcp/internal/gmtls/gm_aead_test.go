package gmtls

import (
	"bytes"
	"testing"
)

// TestSM4GCMRecordKnownAnswer: the GCM suites' record AEAD on RFC 8998's SM4-GCM test
// vector (Appendix A.1). Its 12-byte IV 00001234 567800000000ABCD splits as TLS 1.2
// AEAD records split theirs — a 4-byte implicit part from the key block and an 8-byte
// explicit part on the record — so the vector runs through aeadSM4GCM exactly as a
// record does. (No published vector of a whole TLCP GCM record was found; this covers
// the cipher, the nonce layout and the tag.)
func TestSM4GCMRecordKnownAnswer(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	implicit, explicit := unhex(t, "00001234"), unhex(t, "567800000000ABCD")
	aad := unhex(t, "FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
	pt := unhex(t, "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
	want := unhex(t, "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"+
		"83DE3541E4C2B58177E065A9BF7B62EC")

	seal := aeadSM4GCM(key, implicit).(aead)
	if seal.explicitNonceLen() != 8 || seal.Overhead() != 16 {
		t.Fatalf("explicit nonce %d, overhead %d", seal.explicitNonceLen(), seal.Overhead())
	}
	got := seal.Seal(nil, explicit, pt, aad)
	if !bytes.Equal(got, want) {
		t.Fatalf("sealed\n%X\nwant\n%X", got, want)
	}
	open := aeadSM4GCM(key, implicit)
	plain, err := open.Open(nil, explicit, want, aad)
	if err != nil || !bytes.Equal(plain, pt) {
		t.Fatalf("open: %v", err)
	}
	// Whatever a forger changes — ciphertext, tag, explicit nonce, the additional data
	// (sequence number, type, version, length) — is refused.
	for name, f := range map[string]func() ([]byte, []byte, []byte){
		"ciphertext": func() ([]byte, []byte, []byte) { c := bytes.Clone(want); c[3] ^= 1; return explicit, c, aad },
		"tag":        func() ([]byte, []byte, []byte) { c := bytes.Clone(want); c[len(c)-1] ^= 1; return explicit, c, aad },
		"nonce":      func() ([]byte, []byte, []byte) { n := bytes.Clone(explicit); n[7] ^= 1; return n, want, aad },
		"aad":        func() ([]byte, []byte, []byte) { a := bytes.Clone(aad); a[0] ^= 1; return explicit, want, a },
		"truncated":  func() ([]byte, []byte, []byte) { return explicit, want[:len(want)-1], aad },
	} {
		n, c, a := f()
		if _, err := open.Open(nil, n, c, a); err == nil {
			t.Errorf("changed %s: opened", name)
		}
	}
	if _, err := open.Open(nil, explicit[:7], want, aad); err == nil {
		t.Error("a 7-byte explicit nonce: opened")
	}
}

// The GCM suites' key block: 16-byte keys, 4-byte implicit nonces, no MAC keys.
func TestGCMSuitesKeyBlock(t *testing.T) {
	for _, id := range []uint16{GMTLS_ECC_SM4_GCM_SM3, GMTLS_ECDHE_SM4_GCM_SM3} {
		s := mutualCipherSuiteGM([]uint16{id}, id)
		if s == nil || s.keyLen != 16 || s.macLen != 0 || s.ivLen != 4 || s.aead == nil || s.cipher != nil {
			t.Errorf("suite %04x: %+v", id, s)
		}
	}
}

func BenchmarkSM4GCMRecord(b *testing.B) {
	r := aeadSM4GCM(make([]byte, 16), make([]byte, 4))
	buf := make([]byte, 1024, 1024+16)
	nonce := make([]byte, 8)
	ad := make([]byte, 13)
	b.SetBytes(1024)
	for range b.N {
		r.Seal(buf[:0], nonce, buf[:1024], ad)
	}
}
