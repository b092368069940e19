package crypto

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// PrivateKey is an SM2 private key.
type PrivateKey = sm2.PrivateKey

// PublicKey is an SM2 public key (on the SM2 curve).
type PublicKey = ecdsa.PublicKey

// PEM block types govgate writes.
const (
	pemPrivateKey          = "PRIVATE KEY"
	pemEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
	pemPublicKey           = "PUBLIC KEY"
	pemCertificate         = "CERTIFICATE"
)

// GenerateKey returns a new SM2 key pair.
func GenerateKey() (*PrivateKey, error) {
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate SM2 key: %w", err)
	}
	return k, nil
}

// MarshalPrivateKeyPEM encodes key as PKCS#8 PEM. With a password it is encrypted with
// PBES2 using SM4-CBC and PBKDF2 with HMAC-SM3 (what GmSSL writes), else it is plain.
func MarshalPrivateKeyPEM(key *PrivateKey, password []byte) ([]byte, error) {
	if len(password) == 0 {
		der, err := smx509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("marshal SM2 key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
	}
	enc := pkcs.NewSMPBESEncrypterWithKDF(pkcs.NewPBKDF2Opts(pkcs.SM3, 16, 10000))
	der, err := pkcs8.MarshalPrivateKey(key, password, enc)
	if err != nil {
		return nil, fmt.Errorf("encrypt SM2 key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedPrivateKey, Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes an SM2 private key from PEM: PKCS#8 (plain, or encrypted with
// password), or SEC1 "EC PRIVATE KEY". Errors never include the password or key bytes.
func ParsePrivateKeyPEM(data, password []byte) (*PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("parse SM2 key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case pemEncryptedPrivateKey:
		if len(password) == 0 {
			return nil, errors.New("parse SM2 key: the key is encrypted and no password was given")
		}
		key, _, err = pkcs8.ParsePrivateKey(block.Bytes, password)
		if err != nil {
			return nil, errors.New("parse SM2 key: wrong password or corrupt encrypted key")
		}
	case pemPrivateKey:
		key, err = smx509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY", "SM2 PRIVATE KEY":
		key, err = smx509.ParseSM2PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("parse SM2 key: unexpected PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse SM2 key: %w", err)
	}
	k, ok := key.(*sm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse SM2 key: %T is not an SM2 key", key)
	}
	return k, nil
}

// MarshalPublicKeyPEM encodes an SM2 public key as PKIX PEM.
func MarshalPublicKeyPEM(pub *PublicKey) ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal SM2 public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// ParsePublicKeyPEM decodes a PKIX PEM public key and checks it is SM2.
func ParsePublicKeyPEM(data []byte) (*PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemPublicKey {
		return nil, errors.New("parse SM2 public key: no PUBLIC KEY PEM block")
	}
	key, err := smx509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse SM2 public key: %w", err)
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, errors.New("parse SM2 public key: not an SM2 key")
	}
	return pub, nil
}

// Certificate is an X.509 certificate that may carry SM2 keys and signatures.
type Certificate = smx509.Certificate

// ParseCertificatesPEM decodes every CERTIFICATE block in data, in order.
func ParseCertificatesPEM(data []byte) ([]*Certificate, error) {
	var out []*Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			continue
		}
		c, err := smx509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("parse certificates: no CERTIFICATE PEM block")
	}
	return out, nil
}

// MarshalCertificatePEM encodes a certificate as PEM.
func MarshalCertificatePEM(c *Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: c.Raw})
}

// SM2PublicKey returns the certificate's public key if it is SM2.
func SM2PublicKey(c *Certificate) (*PublicKey, error) {
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, fmt.Errorf("certificate %s does not hold an SM2 key", c.Subject)
	}
	return pub, nil
}
