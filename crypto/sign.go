package crypto

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
)

// DefaultUserID is the SM2 user ID of GB/T 35276 that every govgate signature uses.
const DefaultUserID = "1234567812345678"

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("SM2 signature does not verify")

// Signer makes SM2 signatures (ZA with the default user ID, SM3, ASN.1 DER r||s).
type Signer struct {
	key  *PrivateKey
	opts *sm2.SM2SignerOption
}

// NewSigner returns a signer for key.
func NewSigner(key *PrivateKey) *Signer {
	return &Signer{key: key, opts: sm2.NewSM2SignerOption(true, []byte(DefaultUserID))}
}

// Sign signs msg (the message itself, not a digest).
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	sig, err := s.key.Sign(rand.Reader, msg, s.opts)
	if err != nil {
		return nil, fmt.Errorf("SM2 sign: %w", err)
	}
	return sig, nil
}

// Public returns the signer's public key.
func (s *Signer) Public() *PublicKey { return &s.key.PublicKey }

// Verifier checks SM2 signatures made by one public key.
type Verifier struct {
	pub *PublicKey
}

// NewVerifier returns a verifier for pub, which must be an SM2 key.
func NewVerifier(pub *PublicKey) (*Verifier, error) {
	if pub == nil || !sm2.IsSM2PublicKey(pub) {
		return nil, errors.New("SM2 verifier: not an SM2 public key")
	}
	return &Verifier{pub: pub}, nil
}

// Verify checks sig over msg; it returns ErrBadSignature when it does not verify.
func (v *Verifier) Verify(msg, sig []byte) error {
	if !sm2.VerifyASN1WithSM2(v.pub, []byte(DefaultUserID), msg, sig) {
		return ErrBadSignature
	}
	return nil
}
