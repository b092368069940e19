package gmtls

import (
	"crypto/cipher"
	"errors"

	"github.com/emmansun/gmsm/sm4"
)

// TLCP's GCM suites (GB/T 38636-2020: ECC_SM4_GCM_SM3, ECDHE_SM4_GCM_SM3) protect records
// as TLS 1.2 does with AES-GCM (RFC 5288, RFC 5246 §6.2.3.3): the key block gives each
// side a 16-byte key and a 4-byte implicit nonce part; each record carries an 8-byte
// explicit part (here the sequence number, which never repeats under one key), and the
// additional data is seq_num || type || version || length of the plaintext. The record
// layer in conn.go already does the explicit nonce and the additional data for any value
// of the aead interface; this file supplies the SM4-GCM one.

const (
	gcmImplicitNonceLen = 4
	gcmExplicitNonceLen = 8
)

// sm4GCMRecord is one direction's SM4-GCM record protection.
type sm4GCMRecord struct {
	nonce [gcmImplicitNonceLen + gcmExplicitNonceLen]byte // implicit part, then the record's explicit part
	gcm   cipher.AEAD
}

func (r *sm4GCMRecord) NonceSize() int        { return gcmExplicitNonceLen }
func (r *sm4GCMRecord) Overhead() int         { return r.gcm.Overhead() }
func (r *sm4GCMRecord) explicitNonceLen() int { return gcmExplicitNonceLen }

func (r *sm4GCMRecord) Seal(out, explicit, plaintext, additionalData []byte) []byte {
	copy(r.nonce[gcmImplicitNonceLen:], explicit)
	return r.gcm.Seal(out, r.nonce[:], plaintext, additionalData)
}

func (r *sm4GCMRecord) Open(out, explicit, ciphertext, additionalData []byte) ([]byte, error) {
	if len(explicit) != gcmExplicitNonceLen {
		return nil, errors.New("tlcp: SM4-GCM record with a malformed explicit nonce")
	}
	copy(r.nonce[gcmImplicitNonceLen:], explicit)
	return r.gcm.Open(out, r.nonce[:], ciphertext, additionalData)
}

// gcmFactory is the method emmansun's SM4 blocks have for their own GCM (parallel, with
// CLMUL/PMULL GHASH). Go ≥ 1.24's cipher.NewGCM no longer looks for it on blocks other
// than crypto/aes's and would fall back to its generic one-block-at-a-time GCM, so it is
// called directly.
type gcmFactory interface {
	NewGCM(nonceSize, tagSize int) (cipher.AEAD, error)
}

// newSM4GCM is SM4-GCM with a 12-byte nonce and a 16-byte tag, emmansun's optimised
// implementation when the platform has one.
func newSM4GCM(key []byte) (cipher.AEAD, error) {
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if f, ok := block.(gcmFactory); ok {
		return f.NewGCM(12, 16)
	}
	return cipher.NewGCM(block)
}

// aeadSM4GCM is the cipherSuite.aead of the GCM suites; the key block gives 16-byte keys
// and 4-byte implicit nonces, so neither error can happen.
func aeadSM4GCM(key, implicitNonce []byte) cipher.AEAD {
	g, err := newSM4GCM(key)
	if err != nil {
		panic("tlcp: SM4-GCM key from the key block: " + err.Error())
	}
	r := &sm4GCMRecord{gcm: g}
	copy(r.nonce[:], implicitNonce)
	return r
}
