package crypto

import (
	"crypto/ecdsa"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
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

// Encrypted keys: PBKDF2 salt size and iteration count.
const (
	pbkdf2SaltSize   = 16
	pbkdf2Iterations = 10000
)

// oidHMACWithSM3 is the PBKDF2 PRF hmacWithSM3, the OID GmSSL and gmsm both use for it.
var oidHMACWithSM3 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 401, 2}

// MarshalPrivateKeyPEM encodes key as PKCS#8 PEM. With a password it is an
// EncryptedPrivateKeyInfo in the form GmSSL 3 writes and reads: PBES2
// (1.2.840.113549.1.5.13) with PBKDF2 (1.2.840.113549.1.5.12, PRF hmacWithSM3 with its
// parameters absent) and SM4-CBC (1.2.156.10197.1.104.2, the IV as parameter). Without
// one it is plain.
func MarshalPrivateKeyPEM(key *PrivateKey, password []byte) ([]byte, error) {
	if len(password) == 0 {
		der, err := smx509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("marshal SM2 key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
	}
	// Not gmsm's NewSMPBESEncrypter (the OID 1.2.156.10197.6.4.1.5.2 in place of PBES2,
	// which GmSSL refuses) nor its PBKDF2Opts (a NULL parameter on hmacWithSM3, which
	// GmSSL's parser refuses): gmsm's PBES2 and SM4-CBC with a KDF of ours.
	enc := pkcs.NewPBESEncrypter(pkcs.SM4CBC, pbkdf2SM3{saltSize: pbkdf2SaltSize, iterations: pbkdf2Iterations})
	der, err := pkcs8.MarshalPrivateKey(key, password, enc)
	if err != nil {
		return nil, fmt.Errorf("encrypt SM2 key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedPrivateKey, Bytes: der}), nil
}

// pbkdf2SM3 is PBKDF2 with HMAC-SM3 as gmsm's pkcs.KDFOpts, writing parameters GmSSL
// parses: its PRF AlgorithmIdentifier carries the OID alone.
type pbkdf2SM3 struct{ saltSize, iterations int }

// pbkdf2SM3Params is RFC 8018's PBKDF2-params. It is only ever marshalled: reading goes
// through gmsm, which registers its own parser for the PBKDF2 OID.
type pbkdf2SM3Params struct {
	Salt           []byte
	IterationCount int
	KeyLen         int
	PRF            pkix.AlgorithmIdentifier // Parameters left empty: encoded absent, not NULL
}

func (o pbkdf2SM3) DeriveKey(password, salt []byte, size int) ([]byte, pkcs.KDFParameters, error) {
	key, err := pbkdf2.Key(sm3.New, string(password), salt, o.iterations, size)
	if err != nil {
		return nil, nil, fmt.Errorf("PBKDF2-HMAC-SM3: %w", err)
	}
	return key, pbkdf2SM3Params{Salt: salt, IterationCount: o.iterations, KeyLen: size, PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACWithSM3}}, nil
}

func (o pbkdf2SM3) GetSaltSize() int { return o.saltSize }

// OID is PBKDF2's own (id-PBKDF2), not gmsm's SM-PBKDF 1.2.156.10197.6.4.1.5.1.
func (o pbkdf2SM3) OID() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
}

func (p pbkdf2SM3Params) DeriveKey(_ asn1.ObjectIdentifier, password []byte, size int) ([]byte, error) {
	return pbkdf2.Key(sm3.New, string(password), p.Salt, p.IterationCount, size)
}

func (p pbkdf2SM3Params) KeyLength() int { return p.KeyLen }

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
