package client

import (
	"fmt"
	"os"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
)

// LoadIdentity reads a TLCP pair from PEM files: the signing and encryption certificates
// (a certificate file may carry its chain after the leaf) and their keys, decrypted with
// password when they are encrypted.
func LoadIdentity(signCert, signKey, encCert, encKey string, password []byte) (*tlcp.Identity, error) {
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
	id := &tlcp.Identity{SignCert: sc, SignKey: sk, EncCert: ec, EncKey: ek, Chain: chain}
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

// LoadTrust reads CA certificates (and optionally CRLs in PEM "X509 CRL" blocks) into a
// trust source.
func LoadTrust(caFiles ...string) (*tlcp.TrustSource, error) {
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
	ts, err := tlcp.NewTrustStore(cas, nil)
	if err != nil {
		return nil, err
	}
	src := &tlcp.TrustSource{}
	src.Store(ts)
	return src, nil
}
