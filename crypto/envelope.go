package crypto

import (
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs7"
)

// Seal encrypts content to the recipients' SM2 encryption certificates as GM/T 0010
// EnvelopedData (PKCS#7 with the SM OIDs): a fresh SM4 key encrypts the content in CBC mode
// (what GM/T 0010 peers read), and SM2 encrypts that key to each recipient. The result is
// DER.
func Seal(content []byte, recipients ...*Certificate) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("envelope: no recipient")
	}
	for _, r := range recipients {
		if _, err := SM2PublicKey(r); err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
	}
	der, err := pkcs7.EncryptSM(pkcs.SM4CBC, content, recipients)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return der, nil
}

// Open decrypts EnvelopedData addressed to cert with its private key.
func Open(der []byte, cert *Certificate, key *PrivateKey) ([]byte, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("open envelope: %w", err)
	}
	pt, err := p7.Decrypt(cert, key)
	if err != nil {
		return nil, fmt.Errorf("open envelope: %w", err)
	}
	return pt, nil
}
