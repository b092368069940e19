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

// PairFiles lists every file WritePairFiles writes for prefix in out.
func PairFiles(out, prefix string) []string {
	var files []string
	for _, use := range []string{"sign", "enc"} {
		for _, suffix := range []string{CertSuffix, ChainSuffix, FullchainSuffix, KeySuffix} {
			files = append(files, PairFile(out, prefix, use, suffix))
		}
	}
	return files
}

// ExistingPairFiles returns those of PairFiles(out, prefix) that exist: a new pair written
// over them would replace private keys still in use.
func ExistingPairFiles(out, prefix string) []string {
	var found []string
	for _, f := range PairFiles(out, prefix) {
		if _, err := os.Lstat(f); err == nil {
			found = append(found, f)
		}
	}
	return found
}

// WritePairFiles writes the pair's certificates (0644) and keys (0600) into out, creating
// it 0700. With a password the keys are encrypted (crypto.MarshalPrivateKeyPEM), the form
// GmSSL requires. Every file is written to a temporary name first and only then renamed
// into place: a failure part-way leaves the old set, never a new key with an old
// certificate.
func (d *Dir) WritePairFiles(out, prefix string, p *Pair, password []byte) error {
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("write pair files: %w", err)
	}
	var chain []byte
	for _, c := range d.IssuerChain() {
		chain = append(chain, crypto.MarshalCertificatePEM(c)...)
	}
	var files []pendingFile
	for _, u := range []struct {
		use  string
		cert *smx509.Certificate
		key  *crypto.PrivateKey
	}{{"sign", p.SignCert, p.SignKey}, {"enc", p.EncCert, p.EncKey}} {
		leaf := crypto.MarshalCertificatePEM(u.cert)
		keyPEM, err := crypto.MarshalPrivateKeyPEM(u.key, password)
		if err != nil {
			return err
		}
		files = append(files,
			pendingFile{PairFile(out, prefix, u.use, CertSuffix), leaf, 0o644},
			pendingFile{PairFile(out, prefix, u.use, ChainSuffix), chain, 0o644},
			pendingFile{PairFile(out, prefix, u.use, FullchainSuffix), append(append([]byte{}, leaf...), chain...), 0o644},
			pendingFile{PairFile(out, prefix, u.use, KeySuffix), keyPEM, 0o600})
	}
	return writeFileSet(files)
}

// pendingFile is one file of a set written together.
type pendingFile struct {
	path string
	data []byte
	perm os.FileMode
}

// writeFileSet writes every file to path.tmp, then renames them all: an error before the
// renames leaves no file of the set changed.
func writeFileSet(files []pendingFile) error {
	var written []string
	cleanup := func() {
		for _, tmp := range written {
			os.Remove(tmp)
		}
	}
	for _, f := range files {
		tmp, err := writeTemp(f.path, f.data, f.perm)
		if err != nil {
			cleanup()
			return err
		}
		written = append(written, tmp)
	}
	for i, f := range files {
		if err := os.Rename(written[i], f.path); err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}

// writeTemp writes b to a new path.tmp with mode perm and returns its name: a new file,
// so an existing file's mode (os.WriteFile keeps it) never applies to a key.
func writeTemp(path string, b []byte, perm os.FileMode) (string, error) {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return tmp, nil
}
