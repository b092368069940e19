package tlcp

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	gcrypto "github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp/internal/gmtls"
)

// CipherSuite is the only suite govgate speaks on the GM side: ECC_SM4_CBC_SM3 (0xE013).
// The ECDHE suite is not offered: an ECDHE-only ClientHello crashes tjfoc's server.
const CipherSuite = gmtls.GMTLS_SM2_WITH_SM4_SM3

// DefaultHandshakeTimeout bounds how long a peer may take to complete the handshake.
const DefaultHandshakeTimeout = 10 * time.Second

// Identity is one side's TLCP identity: a signing and an encryption certificate sharing a
// subject, their keys, and the chain up to (not including) the root.
type Identity struct {
	SignCert *smx509.Certificate
	SignKey  *sm2.PrivateKey
	EncCert  *smx509.Certificate
	EncKey   *sm2.PrivateKey
	Chain    []*smx509.Certificate
}

// Check refuses an identity whose certificates do not match their keys or their roles.
func (id *Identity) Check() error {
	if id == nil || id.SignCert == nil || id.EncCert == nil || id.SignKey == nil || id.EncKey == nil {
		return errors.New("tlcp identity: signing and encryption certificates and keys are all required")
	}
	for _, p := range []struct {
		role string
		cert *smx509.Certificate
		key  *sm2.PrivateKey
	}{{"signing", id.SignCert, id.SignKey}, {"encryption", id.EncCert, id.EncKey}} {
		pub, err := gcrypto.SM2PublicKey(p.cert)
		if err != nil {
			return fmt.Errorf("tlcp identity: %s certificate: %w", p.role, err)
		}
		if !pub.Equal(&p.key.PublicKey) {
			return fmt.Errorf("tlcp identity: the %s key does not match its certificate", p.role)
		}
	}
	if id.SignCert.KeyUsage&smx509.KeyUsageDigitalSignature == 0 {
		return errors.New("tlcp identity: the signing certificate lacks digitalSignature key usage")
	}
	if id.EncCert.KeyUsage&(smx509.KeyUsageKeyEncipherment|smx509.KeyUsageDataEncipherment|smx509.KeyUsageKeyAgreement) == 0 {
		return errors.New("tlcp identity: the encryption certificate lacks keyEncipherment key usage")
	}
	return nil
}

// gmCertificates renders the identity for gmtls: signing, then encryption, each with the
// chain; the private-key operations go to emmansun through signer and decrypter.
func (id *Identity) gmCertificates() (sign, enc gmtls.Certificate) {
	chain := make([][]byte, 0, len(id.Chain))
	for _, c := range id.Chain {
		chain = append(chain, c.Raw)
	}
	// gmtls sends the two certificates' lists one after the other, so the chain goes after
	// the encryption certificate only: signing, encryption, chain, as GB/T 38636 peers
	// expect (a chain after the signing certificate would put a CA where the encryption
	// certificate belongs).
	sign = gmtls.Certificate{Certificate: [][]byte{id.SignCert.Raw}, PrivateKey: signer{id.SignKey}}
	enc = gmtls.Certificate{Certificate: append([][]byte{id.EncCert.Raw}, chain...), PrivateKey: decrypter{id.EncKey}}
	return sign, enc
}

// clientCertificate is what a client sends: signing, encryption, then the chain, in one
// Certificate message, with the signing key for CertificateVerify.
func (id *Identity) clientCertificate() gmtls.Certificate {
	certs := [][]byte{id.SignCert.Raw, id.EncCert.Raw}
	for _, c := range id.Chain {
		certs = append(certs, c.Raw)
	}
	return gmtls.Certificate{Certificate: certs, PrivateKey: signer{id.SignKey}}
}

// signer makes gmtls's SM2 signatures with emmansun: gmtls passes the message itself (it
// computes Z_A and SM3 inside its own Sign), so we sign with the default user ID.
type signer struct{ key *sm2.PrivateKey }

func (s signer) Public() crypto.PublicKey { return &s.key.PublicKey }

func (s signer) Sign(rand io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(rand, msg, sm2.DefaultSM2SignerOpts)
}

// decrypter opens the pre-master secret with emmansun: gmtls hands over C1C3C2 with the
// 0x04 prefix, which is emmansun's default layout.
type decrypter struct{ key *sm2.PrivateKey }

func (d decrypter) Public() crypto.PublicKey { return &d.key.PublicKey }

func (d decrypter) Decrypt(_ io.Reader, ciphertext []byte, _ crypto.DecrypterOpts) ([]byte, error) {
	return sm2.Decrypt(d.key, ciphertext)
}

// IdentitySource is where the current identity comes from; rotation stores a new one.
type IdentitySource struct{ v atomic.Pointer[Identity] }

// Store checks and installs id for every later handshake.
func (s *IdentitySource) Store(id *Identity) error {
	if err := id.Check(); err != nil {
		return err
	}
	s.v.Store(id)
	return nil
}

// Load returns the current identity.
func (s *IdentitySource) Load() *Identity { return s.v.Load() }
