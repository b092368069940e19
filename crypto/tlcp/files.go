package tlcp

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
)

// LoadIdentity reads a TLCP pair from PEM files: the signing and encryption certificates
// (a certificate file may carry its chain after the leaf) and their keys, decrypted with
// password when they are encrypted.
func LoadIdentity(signCert, signKey, encCert, encKey string, password []byte) (*Identity, error) {
	sc, chain, err := loadCert(signCert)
	if err != nil {
		return nil, err
	}
	ec, _, err := loadCert(encCert)
	if err != nil {
		return nil, err
	}
	sk, err := LoadKey(signKey, password)
	if err != nil {
		return nil, err
	}
	ek, err := LoadKey(encKey, password)
	if err != nil {
		return nil, err
	}
	id := &Identity{SignCert: sc, SignKey: sk, EncCert: ec, EncKey: ek, Chain: chain}
	if err := id.Check(); err != nil {
		return nil, err
	}
	return id, nil
}

func loadCert(path string) (*smx509.Certificate, []*smx509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load certificate %s: %w", path, err)
	}
	certs, err := crypto.ParseCertificatesPEM(data)
	if err != nil {
		return nil, nil, fmt.Errorf("load certificate %s: %w", path, err)
	}
	return certs[0], certs[1:], nil
}

// LoadKey reads an SM2 private key from a PEM file, refusing one that others can read.
func LoadKey(path string, password []byte) (*crypto.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load key %s: mode %o lets others read it; chmod 600", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	k, err := crypto.ParsePrivateKeyPEM(data, password)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return k, nil
}

// LoadTrust reads CA certificates and the CRLs they signed (PEM "X509 CRL" blocks) into
// a trust store.
func LoadTrust(caFiles, crlFiles []string) (*TrustStore, error) {
	var cas []*smx509.Certificate
	for _, f := range caFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load CA %s: %w", f, err)
		}
		certs, err := crypto.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("load CA %s: %w", f, err)
		}
		cas = append(cas, certs...)
	}
	var crls []*smx509.RevocationList
	for _, f := range crlFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load CRL %s: %w", f, err)
		}
		list, err := ParseCRLsPEM(data)
		if err != nil {
			return nil, fmt.Errorf("load CRL %s: %w", f, err)
		}
		crls = append(crls, list...)
	}
	return NewTrustStore(cas, crls)
}

// ParseCRLsPEM reads every "X509 CRL" block; anything else in the data is an error.
func ParseCRLsPEM(data []byte) ([]*smx509.RevocationList, error) {
	var out []*smx509.RevocationList
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
		crl, err := smx509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, crl)
	}
	if len(out) == 0 {
		return nil, errors.New("no X509 CRL block")
	}
	return out, nil
}

// ParseIdentityBundles reads a pair from two key-store versions, each PEM with the
// certificate (then its chain) and the private key.
func ParseIdentityBundles(sign, enc, password []byte) (*Identity, error) {
	sc, chain, sk, err := parseBundle(sign, password)
	if err != nil {
		return nil, fmt.Errorf("signing bundle: %w", err)
	}
	ec, _, ek, err := parseBundle(enc, password)
	if err != nil {
		return nil, fmt.Errorf("encryption bundle: %w", err)
	}
	id := &Identity{SignCert: sc, SignKey: sk, EncCert: ec, EncKey: ek, Chain: chain}
	if err := id.Check(); err != nil {
		return nil, err
	}
	return id, nil
}

func parseBundle(data, password []byte) (*smx509.Certificate, []*smx509.Certificate, *crypto.PrivateKey, error) {
	var certPEM []byte
	var key *crypto.PrivateKey
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			certPEM = append(certPEM, pem.EncodeToMemory(b)...)
		case "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			k, err := crypto.ParsePrivateKeyPEM(pem.EncodeToMemory(b), password)
			if err != nil {
				return nil, nil, nil, err
			}
			key = k
		default:
			return nil, nil, nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
	}
	certs, err := crypto.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, nil, nil, err
	}
	if key == nil {
		return nil, nil, nil, errors.New("no private key")
	}
	return certs[0], certs[1:], key, nil
}
