package crypto

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm4"
)

// SM4KeySize is the size of an SM4 key in bytes.
const SM4KeySize = 16

// ErrOpen is returned when an SM4-GCM ciphertext fails authentication.
var ErrOpen = errors.New("SM4-GCM: message authentication failed")

// AEAD is SM4 in GCM mode with random 12-byte nonces carried in front of the ciphertext.
type AEAD struct {
	gcm cipher.AEAD
}

// NewSM4GCM returns SM4-GCM under a 16-byte key.
func NewSM4GCM(key []byte) (*AEAD, error) {
	if len(key) != SM4KeySize {
		return nil, fmt.Errorf("SM4-GCM: key is %d bytes, want %d", len(key), SM4KeySize)
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("SM4-GCM: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("SM4-GCM: %w", err)
	}
	return &AEAD{gcm: gcm}, nil
}

// Seal encrypts and authenticates plaintext and authenticates ad; the result is
// nonce || ciphertext || tag.
func (a *AEAD) Seal(plaintext, ad []byte) ([]byte, error) {
	ns := a.gcm.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+a.gcm.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("SM4-GCM nonce: %w", err)
	}
	return a.gcm.Seal(out, out[:ns], plaintext, ad), nil
}

// Open authenticates and decrypts what Seal produced.
func (a *AEAD) Open(sealed, ad []byte) ([]byte, error) {
	ns := a.gcm.NonceSize()
	if len(sealed) < ns+a.gcm.Overhead() {
		return nil, ErrOpen
	}
	pt, err := a.gcm.Open(nil, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
