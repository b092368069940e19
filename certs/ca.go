package certs

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
)

// DeptURIPrefix starts the SAN URI that names a certificate's department.
const DeptURIPrefix = "urn:govgate:dept:"

// RoleURIPrefix starts the SAN URI that names an administrator role.
const RoleURIPrefix = "urn:govgate:role:"

// CA is an SM2 certificate authority whose key is in memory.
type CA struct {
	Cert *smx509.Certificate
	Key  *sm2.PrivateKey
}

// NewRootCA creates a self-signed SM2 root valid for the given duration.
func NewRootCA(commonName, org string, validFor time.Duration) (*CA, error) {
	ca, err := newCA(nil, commonName, org, validFor)
	if err != nil {
		return nil, fmt.Errorf("create root CA: %w", err)
	}
	return ca, nil
}

// NewIntermediateCA creates an SM2 CA signed by parent.
func NewIntermediateCA(parent *CA, commonName, org string, validFor time.Duration) (*CA, error) {
	ca, err := newCA(parent, commonName, org, validFor)
	if err != nil {
		return nil, fmt.Errorf("create intermediate CA: %w", err)
	}
	return ca, nil
}

// newCA issues a CA certificate under parent, or a self-signed root when
// parent is nil. An intermediate may sign only end-entity certificates.
func newCA(parent *CA, commonName, org string, validFor time.Duration) (*CA, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &smx509.Certificate{
		SerialNumber:          serial,
		SubjectKeyId:          ski,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{org}, Country: []string{"CN"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validFor),
		KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		if tmpl.NotAfter.After(parent.Cert.NotAfter) {
			tmpl.NotAfter = parent.Cert.NotAfter // a CA cannot outlive the one that signed it
		}
		tmpl.MaxPathLenZero = true
		if tmpl.AuthorityKeyId, err = authorityKeyID(parent.Cert); err != nil {
			return nil, err
		}
		issuer, signer = parent.Cert, parent.Key
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// KeyID is the key identifier of an SM2 public key: RFC 5280 §4.2.1.2 method 1 with SM3
// in place of SHA-1 — SM3 of the subjectPublicKey BIT STRING's value (04||X||Y), all 32
// bytes. It is the value GmSSL 3 writes for the same key (its default subject and
// authority key identifiers are SM3(04||X||Y)), and it keeps SHA-1 out of a CA that is
// otherwise SM2/SM3 only. Peers only compare identifiers as bytes, so the hash is ours
// to choose (RFC 5280 allows other methods; RFC 7093 lists some).
func KeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key identifier: %w", err)
	}
	var spki struct {
		Algorithm        pkix.AlgorithmIdentifier
		SubjectPublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("key identifier: %w", err)
	}
	id := sm3.Sum(spki.SubjectPublicKey.Bytes)
	return id[:], nil
}

// authorityKeyID is what a certificate issued by issuer names in its AuthorityKeyIdentifier:
// the issuer's own SubjectKeyIdentifier, which path builders match byte for byte (a CA made
// before govgate wrote SKIs has SHA-1 ones, kept as they are); for an issuer without one,
// the identifier its key would have.
func authorityKeyID(issuer *smx509.Certificate) ([]byte, error) {
	if len(issuer.SubjectKeyId) > 0 {
		return issuer.SubjectKeyId, nil
	}
	pub, err := crypto.SM2PublicKey(issuer)
	if err != nil {
		return nil, err
	}
	return KeyID(pub)
}

// randomSerial is a positive serial of 16 random bytes (the profile asks for at least 8).
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // keep 16 bytes: no leading zero byte to drop
	return new(big.Int).SetBytes(b), nil
}

// PairRequest describes the holder of a signing and encryption certificate pair.
type PairRequest struct {
	Dept     string   // department code, into the SAN URI; empty for a gateway
	System   string   // the subject CN
	DNSNames []string // for servers: the names clients dial
	Server   bool     // serverAuth rather than clientAuth
	// Roles are administrator roles, into SAN URIs urn:govgate:role:<role>.
	Roles    []string
	ValidFor time.Duration
	// NotBefore, when set, backdates or postdates the pair (tests of expiry).
	NotBefore time.Time
}

// Pair is a signing and an encryption certificate with their keys.
type Pair struct {
	SignCert *smx509.Certificate
	SignKey  *sm2.PrivateKey
	EncCert  *smx509.Certificate
	EncKey   *sm2.PrivateKey
}

// IssuePair issues a certificate pair to the profile of DESIGN.md: the two certificates
// share subject, SAN and issuer; the signing one has digitalSignature, the encryption one
// keyEncipherment, dataEncipherment and keyAgreement; serials are 16 random bytes.
func (ca *CA) IssuePair(req PairRequest) (*Pair, error) {
	if req.System == "" {
		return nil, errors.New("issue pair: system name (CN) is required")
	}
	if req.Dept != "" && strings.ContainsAny(req.Dept, " :/") {
		return nil, fmt.Errorf("issue pair: department code %q must not contain spaces, colons or slashes", req.Dept)
	}
	if req.ValidFor <= 0 {
		req.ValidFor = 365 * 24 * time.Hour
	}
	p := &Pair{}
	var err error
	if p.SignCert, p.SignKey, err = ca.issue(req, smx509.KeyUsageDigitalSignature); err != nil {
		return nil, err
	}
	if p.EncCert, p.EncKey, err = ca.issue(req, smx509.KeyUsageKeyEncipherment|smx509.KeyUsageDataEncipherment|smx509.KeyUsageKeyAgreement); err != nil {
		return nil, err
	}
	return p, nil
}

func (ca *CA) issue(req PairRequest, usage smx509.KeyUsage) (*smx509.Certificate, *sm2.PrivateKey, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	nb := req.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-5 * time.Minute)
	}
	ski, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	aki, err := authorityKeyID(ca.Cert)
	if err != nil {
		return nil, nil, err
	}
	eku := smx509.ExtKeyUsageClientAuth
	if req.Server {
		eku = smx509.ExtKeyUsageServerAuth
	}
	tmpl := &smx509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.System, Country: []string{"CN"}},
		NotBefore:    nb,
		NotAfter:     nb.Add(req.ValidFor),
		KeyUsage:     usage,
		ExtKeyUsage:  []smx509.ExtKeyUsage{eku},
		DNSNames:     req.DNSNames,
		// smx509 writes an SKI only for CAs and takes the AKI from the issuer's SKI only
		// when it has one; both are set here so every certificate carries them.
		SubjectKeyId:   ski,
		AuthorityKeyId: aki,
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter // as for an intermediate: no chain verifies past the CA's expiry
	}
	var uris []string
	if req.Dept != "" {
		uris = append(uris, DeptURIPrefix+req.Dept)
	}
	for _, r := range req.Roles {
		uris = append(uris, RoleURIPrefix+r)
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, fmt.Errorf("issue pair: %w", err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %s: %w", req.System, err)
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %s: %w", req.System, err)
	}
	return cert, key, nil
}

// CRL issues an SM2-signed certificate revocation list naming the given serials.
func (ca *CA) CRL(number int64, revoked []*big.Int, validFor time.Duration) (*smx509.RevocationList, error) {
	entries := make([]x509.RevocationListEntry, len(revoked))
	for i, s := range revoked {
		entries[i] = x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()}
	}
	return ca.CRLEntries(number, entries, validFor)
}

// crlBackdate is how far thisUpdate is set back, for verifiers whose clocks run behind.
const crlBackdate = time.Minute

// CRLEntries issues a CRL from full entries (revocation times and reasons).
func (ca *CA) CRLEntries(number int64, entries []x509.RevocationListEntry, validFor time.Duration) (*smx509.RevocationList, error) {
	if validFor <= 0 {
		return nil, fmt.Errorf("issue CRL: validity %v: nextUpdate must come after thisUpdate", validFor)
	}
	now := time.Now()
	thisUpdate, err := crlThisUpdate(now, entries)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                thisUpdate,
		NextUpdate:                now.Add(validFor),
		RevokedCertificateEntries: entries,
	}
	der, err := smx509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue CRL: %w", err)
	}
	crl, err := smx509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("issue CRL: %w", err)
	}
	return crl, nil
}

// crlThisUpdate is a CRL's thisUpdate: backdated by crlBackdate, but never before the
// revocation date of an entry it lists (a CRL cannot report a revocation from before it was
// made; RFC 5280 §5.1.2.4, §5.3.2), so a fresh revocation moves it up to that date. Times
// are cut to the second, as the CRL encodes them. A revocation dated after now means a
// clock went back; it is refused rather than published as a CRL from the future.
func crlThisUpdate(now time.Time, entries []x509.RevocationListEntry) (time.Time, error) {
	now = now.Truncate(time.Second)
	this := now.Add(-crlBackdate)
	for _, e := range entries {
		rt := e.RevocationTime.Truncate(time.Second)
		if rt.After(now) {
			return time.Time{}, fmt.Errorf("issue CRL: serial %s is revoked at %s, after now (%s); is the clock right?",
				e.SerialNumber.Text(16), rt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if rt.After(this) {
			this = rt
		}
	}
	return this, nil
}
