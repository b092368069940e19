package certs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
)

// The files `govgate certs issue` writes for each certificate of a pair (use is "sign" or
// "enc"), in the layout certbot users know:
//
//	<prefix>-<use>-cert.pem       the certificate alone
//	<prefix>-<use>-chain.pem      the CAs above it, without the root (empty when a root issued it)
//	<prefix>-<use>-fullchain.pem  the certificate, then the chain: what a TLCP peer sends and
//	                              what the gateway's sign_cert/enc_cert and govgate call --cert take
//	<prefix>-<use>.key            the private key, PKCS#8 (encrypted when a password is given), 0600
//
// No file carries the root: a peer must already hold it to trust anything, and GmSSL's
// server loader refuses a bundle that ends in it.
const (
	CertSuffix      = "-cert.pem"
	ChainSuffix     = "-chain.pem"
	FullchainSuffix = "-fullchain.pem"
	KeySuffix       = ".key"
)

// PairFile is the path of one of the pair's files in out: PairFile(out, "rensheju", "sign",
// FullchainSuffix) is out/rensheju-sign-fullchain.pem.
func PairFile(out, prefix, use, suffix string) string {
	return filepath.Join(out, prefix+"-"+use+suffix)
}

// IssuerChain is the chain a certificate of this CA is sent with: the CA certificate and
// those above it, without the self-signed root.
func (d *Dir) IssuerChain() []*smx509.Certificate {
	var out []*smx509.Certificate
	for _, c := range append([]*smx509.Certificate{d.CA.Cert}, d.Chain...) {
		if !isSelfSigned(c) {
			out = append(out, c)
		}
	}
	return out
}

// isSelfSigned reports a root: its issuer is its subject and its own key verifies it.
func isSelfSigned(c *smx509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// WritePairFiles writes the pair's certificates (0644) and keys (0600) into out, creating
// it 0700. With a password the keys are encrypted (crypto.MarshalPrivateKeyPEM), the form
// GmSSL requires.
func (d *Dir) WritePairFiles(out, prefix string, p *Pair, password []byte) error {
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("write pair files: %w", err)
	}
	var chain []byte
	for _, c := range d.IssuerChain() {
		chain = append(chain, crypto.MarshalCertificatePEM(c)...)
	}
	for _, u := range []struct {
		use  string
		cert *smx509.Certificate
		key  *crypto.PrivateKey
	}{{"sign", p.SignCert, p.SignKey}, {"enc", p.EncCert, p.EncKey}} {
		if err := writeCertFiles(out, prefix, u.use, crypto.MarshalCertificatePEM(u.cert), chain); err != nil {
			return err
		}
		keyPEM, err := crypto.MarshalPrivateKeyPEM(u.key, password)
		if err != nil {
			return err
		}
		if err := writeFile(PairFile(out, prefix, u.use, KeySuffix), keyPEM, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeCertFiles writes the certificate, chain and fullchain files of one use.
func writeCertFiles(out, prefix, use string, leaf, chain []byte) error {
	for suffix, b := range map[string][]byte{
		CertSuffix:      leaf,
		ChainSuffix:     chain,
		FullchainSuffix: append(append([]byte{}, leaf...), chain...),
	} {
		if err := writeFile(PairFile(out, prefix, use, suffix), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes b to path with mode perm through a new temporary file renamed into
// place: an existing file's mode (os.WriteFile keeps it) never applies to a key, and a reader
// never sees half a file.
func writeFile(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
