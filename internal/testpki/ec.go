package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// deptURIPrefix is gateway.DeptURIPrefix; this package imports no govgate package.
const deptURIPrefix = "urn:govgate:dept:"

// EC is a P-256 CA with its files in Dir: ca.pem, and whatever Write and CRL add.
type EC struct {
	Dir  string
	CA   *x509.Certificate
	Key  *ecdsa.PrivateKey
	next int64
}

// NewEC makes a CA valid for an hour and writes Dir/ca.pem.
func NewEC(t testing.TB) *EC {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec root"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &EC{Dir: t.TempDir(), CA: ca, Key: key, next: 100}
	p.Write(t, "ca.pem", "CERTIFICATE", der, 0o644)
	return p
}

// Write writes der as one PEM block of typ to Dir/name and returns the path. The file is
// written aside and renamed, as an administrator replaces one: a watcher never reads
// half of it.
func (p *EC) Write(t testing.TB, name, typ string, der []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(p.Dir, name)
	if err := os.WriteFile(path+".new", pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// CRL writes Dir/crl.pem revoking serials (none: an empty CRL) and returns its path. Each
// CRL has a higher number and a later modification time than the one before, so that a
// watcher comparing times sees it even within the file system's timestamp granularity.
func (p *EC) CRL(t testing.TB, serials ...*big.Int) string {
	t.Helper()
	p.next++
	rl := &x509.RevocationList{Number: big.NewInt(p.next), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, p.CA, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	path := p.Write(t, "crl.pem", "X509 CRL", der, 0o644)
	later := time.Now().Add(time.Duration(p.next) * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	return path
}

// Issue makes a certificate for cn: a client's carrying dept, or a server's for
// localhost.
func (p *EC) Issue(t testing.TB, cn, dept string, server bool) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.next++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.next), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.DNSNames = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []string{"localhost"}
	}
	if dept != "" {
		u, _ := url.Parse(deptURIPrefix + dept)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, c
}
