package gmtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	gmsm2 "github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	tjsm2 "github.com/tjfoc/gmsm/sm2"
)

// Both forms verify with the key that signed them, in both of tjfoc's typings of an SM2
// key; the raw form only when enabled; nothing verifies with another key, and keys that
// are not SM2 are refused before any signature is looked at.
func TestVerifyClientSignature(t *testing.T) {
	key, err := gmsm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	transcript := []byte("client hello ... client key exchange, as GmSSL signs it")
	digest := sm3.Sum(transcript)
	sign := func(msg []byte) []byte {
		sig, err := key.Sign(rand.Reader, msg, gmsm2.DefaultSM2SignerOpts)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	digestSig, rawSig := sign(digest[:]), sign(transcript)
	asECDSA := &ecdsa.PublicKey{Curve: tjsm2.P256Sm2(), X: key.X, Y: key.Y}
	asSM2 := &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: key.X, Y: key.Y}

	for _, pub := range []any{asECDSA, asSM2} {
		if form, err := verifyClientSignature(pub, transcript, digest[:], digestSig, false); err != nil || form != ClientVerifySM3Digest {
			t.Errorf("%T: digest form: %v, %v", pub, form, err)
		}
		if form, err := verifyClientSignature(pub, transcript, digest[:], rawSig, true); err != nil || form != ClientVerifyRawTranscript {
			t.Errorf("%T: raw form, enabled: %v, %v", pub, form, err)
		}
		if _, err := verifyClientSignature(pub, transcript, digest[:], rawSig, false); err == nil {
			t.Errorf("%T: raw form accepted while disabled", pub)
		}
	}

	other, _ := gmsm2.GenerateKey(rand.Reader)
	otherPub := &ecdsa.PublicKey{Curve: tjsm2.P256Sm2(), X: other.X, Y: other.Y}
	for name, sig := range map[string][]byte{"digest": digestSig, "raw": rawSig} {
		if _, err := verifyClientSignature(otherPub, transcript, digest[:], sig, true); err == nil {
			t.Errorf("%s form verified with another key", name)
		}
	}

	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	offCurve := &ecdsa.PublicKey{Curve: tjsm2.P256Sm2(), X: key.Y, Y: key.X}
	for name, pub := range map[string]any{"P-256": &p256.PublicKey, "RSA": &rsaKey.PublicKey, "point off the curve": offCurve} {
		if _, err := verifyClientSignature(pub, transcript, digest[:], digestSig, true); err == nil {
			t.Errorf("%s key accepted", name)
		}
	}
}
