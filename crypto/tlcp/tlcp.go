package tlcp

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	gcrypto "github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp/internal/gmtls"
)

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
	enc = gmtls.Certificate{Certificate: append([][]byte{id.EncCert.Raw}, chain...), PrivateKey: newDecrypter(id.EncKey)}
	return sign, enc
}

// clientCertificate is what a client hands gmtls: its signing certificate and chain (the
// Certificate message of the ECC suites) and a key that signs CertificateVerify and
// holds the encryption certificate and key, which gmtls puts after the signing
// certificate and uses for the SM2 key exchange when the suite is ECDHE (GB/T 38636-2020:
// an ECDHE client sends its encryption certificate; an ECC one has no use for it).
func (id *Identity) clientCertificate() gmtls.Certificate {
	certs := [][]byte{id.SignCert.Raw}
	for _, c := range id.Chain {
		certs = append(certs, c.Raw)
	}
	return gmtls.Certificate{Certificate: certs, PrivateKey: clientKey{signer: signer{id.SignKey}, encCert: id.EncCert.Raw, enc: newDecrypter(id.EncKey)}}
}

// clientKey is a client's signing key for gmtls, carrying its encryption pair along.
type clientKey struct {
	signer
	encCert []byte
	enc     decrypter
}

func (k clientKey) EncryptionCertificate() []byte           { return k.encCert }
func (k clientKey) EncryptionKey() gmtls.SM2KeyAgreementKey { return k.enc }

// signer makes gmtls's SM2 signatures with emmansun: gmtls passes the message itself (it
// computes Z_A and SM3 inside its own Sign), so we sign with the default user ID.
type signer struct{ key *sm2.PrivateKey }

func (s signer) Public() crypto.PublicKey { return &s.key.PublicKey }

func (s signer) Sign(rand io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(rand, msg, sm2.DefaultSM2SignerOpts)
}

// decrypter is the encryption key for gmtls, with emmansun: it opens the pre-master
// secret of the ECC suites (gmtls hands over C1C3C2 with the 0x04 prefix, emmansun's
// default layout) and takes part in the SM2 key exchange of the ECDHE suites.
type decrypter struct {
	key *sm2.PrivateKey
	// ecdh is key in emmansun's ecdh form, made once per identity rather than per
	// handshake; nil if the key cannot be converted (then ECDHE fails, ECC still works).
	ecdh *ecdh.PrivateKey
}

func newDecrypter(key *sm2.PrivateKey) decrypter {
	d := decrypter{key: key}
	d.ecdh, _ = key.ECDH()
	return d
}

func (d decrypter) Public() crypto.PublicKey { return &d.key.PublicKey }

func (d decrypter) Decrypt(_ io.Reader, ciphertext []byte, _ crypto.DecrypterOpts) ([]byte, error) {
	return sm2.Decrypt(d.key, ciphertext)
}

func (d decrypter) SM2MQV(eLocal *ecdh.PrivateKey, sRemote, eRemote *ecdh.PublicKey) (*ecdh.PublicKey, error) {
	if d.ecdh == nil {
		return nil, errors.New("tlcp: the encryption key cannot be used for the SM2 key exchange")
	}
	return d.ecdh.SM2MQV(eLocal, sRemote, eRemote)
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
