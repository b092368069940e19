package gmtls

import (
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"

	gmsm2 "github.com/emmansun/gmsm/sm2"
	tjsm2 "github.com/tjfoc/gmsm/sm2"
)

// ClientVerifyForm is what a client's CertificateVerify signature was computed over.
// govgate: added (issue 13, item 2).
type ClientVerifyForm uint8

const (
	// ClientVerifyNone: the client sent no certificate, so no CertificateVerify.
	ClientVerifyNone ClientVerifyForm = iota
	// ClientVerifySM3Digest: SM2 over SM3(handshake messages), as GB/T 38636-2020 writes
	// it and tjfoc, Tongsuo and Kona sign.
	ClientVerifySM3Digest
	// ClientVerifyRawTranscript: SM2 over the handshake messages themselves (the SM2
	// signature's own SM3 and Z then cover them), as GmSSL 3.x signs.
	ClientVerifyRawTranscript
)

// verifyClientSignature checks a CertificateVerify signature by the client's signing key
// over the handshake messages sent so far, in the standard's form and, when acceptRaw, in
// GmSSL's. The two cannot be confused: a digest-form signature covers 32 bytes, and a
// transcript (a ClientHello alone) is always longer, so neither form's signature verifies
// as the other's over any handshake.
func verifyClientSignature(pub crypto.PublicKey, transcript, digest, sig []byte, acceptRaw bool) (ClientVerifyForm, error) {
	key, err := sm2PublicKey(pub)
	if err != nil {
		return ClientVerifyNone, err
	}
	if gmsm2.VerifyASN1WithSM2(key, nil, digest, sig) {
		return ClientVerifySM3Digest, nil
	}
	if acceptRaw && gmsm2.VerifyASN1WithSM2(key, nil, transcript, sig) {
		return ClientVerifyRawTranscript, nil
	}
	return ClientVerifyNone, errors.New("SM2 verification failure")
}

// sm2PublicKey turns tjfoc's parse of an SM2 key (an ECDSA key on its SM2 curve, or its
// SM2 key) into emmansun's, which checks the point is on the curve.
func sm2PublicKey(pub crypto.PublicKey) (*ecdsa.PublicKey, error) {
	var point []byte
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != tjsm2.P256Sm2() {
			return nil, errors.New("the client's signing key is not an SM2 key")
		}
		point = marshalPoint(k.X.Bytes(), k.Y.Bytes())
	case *tjsm2.PublicKey:
		point = marshalPoint(k.X.Bytes(), k.Y.Bytes())
	default:
		return nil, fmt.Errorf("the client's signing key is a %T, not an SM2 key", pub)
	}
	key, err := gmsm2.NewPublicKey(point)
	if err != nil {
		return nil, fmt.Errorf("the client's SM2 key: %w", err)
	}
	return key, nil
}

// marshalPoint is the uncompressed encoding of (x, y), coordinates of at most 32 bytes;
// a longer one gives an encoding NewPublicKey refuses.
func marshalPoint(x, y []byte) []byte {
	if len(x) > 32 || len(y) > 32 {
		return nil
	}
	p := make([]byte, 65)
	p[0] = 4
	copy(p[33-len(x):33], x)
	copy(p[65-len(y):], y)
	return p
}
