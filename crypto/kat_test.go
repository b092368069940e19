package crypto

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm4"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GB/T 32905-2016 appendix A.
func TestSM3KnownAnswers(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{strings.Repeat("abcd", 16), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"},
	} {
		got := SM3([]byte(c.in))
		if hex.EncodeToString(got[:]) != c.want {
			t.Errorf("SM3(%q) = %x, want %s", c.in, got, c.want)
		}
		h := NewSM3()
		h.Write([]byte(c.in))
		if hex.EncodeToString(h.Sum(nil)) != c.want {
			t.Errorf("streaming SM3(%q) differs", c.in)
		}
	}
}

// GB/T 32907-2016 appendix A: one block, and the same block encrypted 1,000,000 times.
func TestSM4KnownAnswers(t *testing.T) {
	key := unhex(t, "0123456789abcdeffedcba9876543210")
	block, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	buf := append([]byte(nil), key...)
	block.Encrypt(buf, buf)
	if want := unhex(t, "681edf34d206965e86b3e94f536e4246"); !bytes.Equal(buf, want) {
		t.Fatalf("SM4 = %x, want %x", buf, want)
	}
	block.Decrypt(buf, buf)
	if !bytes.Equal(buf, key) {
		t.Fatal("SM4 decrypt does not invert encrypt")
	}
	if testing.Short() {
		return
	}
	for i := 0; i < 1000000; i++ {
		block.Encrypt(buf, buf)
	}
	if want := unhex(t, "595298c7c6fd271f0402f804c33d3f66"); !bytes.Equal(buf, want) {
		t.Fatalf("SM4 x1e6 = %x, want %x", buf, want)
	}
}

// The signature example on the recommended SM2 curve (GB/T 32918.2-2016 as reproduced in
// GM/T 0003 guidance): key dA, message "message digest", default user ID.
func TestSM2KnownAnswer(t *testing.T) {
	d := unhex(t, "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
	key, err := sm2.NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	wantX := "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
	wantY := "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
	if hex.EncodeToString(key.X.FillBytes(make([]byte, 32))) != wantX || hex.EncodeToString(key.Y.FillBytes(make([]byte, 32))) != wantY {
		t.Fatalf("public key = (%x, %x)", key.X, key.Y)
	}
	r, _ := new(big.Int).SetString("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3", 16)
	s, _ := new(big.Int).SetString("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA", 16)
	sig := asn1Signature(t, r, s)
	v, err := NewVerifier(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify([]byte("message digest"), sig); err != nil {
		t.Fatalf("standard signature: %v", err)
	}
	if err := v.Verify([]byte("message digesT"), sig); err == nil {
		t.Fatal("standard signature verified over another message")
	}
	// And our own signature with this key verifies too, and only over its message.
	own, err := NewSigner(key).Sign([]byte("message digest"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Verify([]byte("message digest"), own) != nil || v.Verify([]byte("message digest!"), own) == nil {
		t.Fatal("own signature: verify accepted the wrong message or refused the right one")
	}
}
