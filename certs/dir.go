package certs

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
)

// Dir is a CA kept in a directory, owned by the cryptography administrator:
//
//	ca.pem          the CA certificate, then the chain up to the root
//	ca.key          its SM2 private key, PKCS#8 PEM (encrypted with a password if given), 0600
//	issued.jsonl    one line per certificate issued
//	revoked.jsonl   one line per revocation
//	crl.number      the number of the last CRL issued
type Dir struct {
	Path  string
	CA    *CA
	Chain []*smx509.Certificate // above the CA, up to the root
}

// Issued is one certificate the CA issued.
type Issued struct {
	Serial   string    `json:"serial"`
	Dept     string    `json:"dept,omitempty"`
	System   string    `json:"system"`
	Use      string    `json:"use"` // sign or enc
	Server   bool      `json:"server,omitempty"`
	NotAfter time.Time `json:"not_after"`
	Issued   time.Time `json:"issued"`
}

// Revocation is one revoked certificate.
type Revocation struct {
	Serial string    `json:"serial"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// reasonCode maps RFC 5280's CRL reason names to their codes.
func reasonCode(name string) (int, error) {
	switch name {
	case "unspecified":
		return 0, nil
	case "keyCompromise":
		return 1, nil
	case "cACompromise":
		return 2, nil
	case "affiliationChanged":
		return 3, nil
	case "superseded":
		return 4, nil
	case "cessationOfOperation":
		return 5, nil
	case "certificateHold":
		return 6, nil
	case "privilegeWithdrawn":
		return 9, nil
	}
	return 0, fmt.Errorf("reason %q: want unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold or privilegeWithdrawn", name)
}

// InitDir creates a CA in path: a root, or an intermediate signed by parent.
func InitDir(path, commonName, org string, validFor time.Duration, parent *Dir, password []byte) (*Dir, error) {
	if entries, err := os.ReadDir(path); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("ca init %s: the directory is not empty", path)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, err
	}
	var ca *CA
	var chain []*smx509.Certificate
	var err error
	if parent == nil {
		ca, err = NewRootCA(commonName, org, validFor)
	} else {
		ca, err = NewIntermediateCA(parent.CA, commonName, org, validFor)
		chain = append([]*smx509.Certificate{parent.CA.Cert}, parent.Chain...)
	}
	if err != nil {
		return nil, err
	}
	keyPEM, err := crypto.MarshalPrivateKeyPEM(ca.Key, password)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(path, "ca.key"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	certPEM := crypto.MarshalCertificatePEM(ca.Cert)
	for _, c := range chain {
		certPEM = append(certPEM, crypto.MarshalCertificatePEM(c)...)
	}
	if err := os.WriteFile(filepath.Join(path, "ca.pem"), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &Dir{Path: path, CA: ca, Chain: chain}, nil
}

// OpenDir loads the CA in path, refusing a key file others can read.
func OpenDir(path string, password []byte) (*Dir, error) {
	certPEM, err := os.ReadFile(filepath.Join(path, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("open CA %s: %w", path, err)
	}
	certs, err := crypto.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("open CA %s: %w", path, err)
	}
	keyPath := filepath.Join(path, "ca.key")
	info, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("open CA %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("open CA %s: ca.key has mode %o, readable by others; chmod 600", path, info.Mode().Perm())
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	key, err := crypto.ParsePrivateKeyPEM(keyPEM, password)
	if err != nil {
		return nil, fmt.Errorf("open CA %s: %w", path, err)
	}
	pub, err := crypto.SM2PublicKey(certs[0])
	if err != nil || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("open CA %s: ca.key is not the key of ca.pem", path)
	}
	return &Dir{Path: path, CA: &CA{Cert: certs[0], Key: key}, Chain: certs[1:]}, nil
}

// Issue issues a pair and records both certificates.
func (d *Dir) Issue(req PairRequest) (*Pair, error) {
	p, err := d.CA.IssuePair(req)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	for _, c := range []struct {
		use  string
		cert *smx509.Certificate
	}{{"sign", p.SignCert}, {"enc", p.EncCert}} {
		rec := Issued{Serial: c.cert.SerialNumber.Text(16), Dept: req.Dept, System: req.System, Use: c.use, Server: req.Server, NotAfter: c.cert.NotAfter.UTC(), Issued: now}
		if err := appendJSONLine(filepath.Join(d.Path, "issued.jsonl"), rec); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// List returns every issued certificate, in issue order.
func (d *Dir) List() ([]Issued, error) {
	var out []Issued
	err := readJSONLines(filepath.Join(d.Path, "issued.jsonl"), func(b []byte) error {
		var r Issued
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// Revocations returns every revocation.
func (d *Dir) Revocations() ([]Revocation, error) {
	var out []Revocation
	err := readJSONLines(filepath.Join(d.Path, "revoked.jsonl"), func(b []byte) error {
		var r Revocation
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// Revoke records the revocation of a certificate this CA issued.
func (d *Dir) Revoke(serial, reason string) error {
	serial = strings.ToLower(strings.TrimPrefix(serial, "0x"))
	if _, err := reasonCode(reason); err != nil {
		return err
	}
	issued, err := d.List()
	if err != nil {
		return err
	}
	found := false
	for _, c := range issued {
		found = found || c.Serial == serial
	}
	if !found {
		return fmt.Errorf("revoke %s: this CA issued no certificate with that serial", serial)
	}
	revs, err := d.Revocations()
	if err != nil {
		return err
	}
	for _, r := range revs {
		if r.Serial == serial {
			return fmt.Errorf("revoke %s: already revoked (%s, %s)", serial, r.Reason, r.Time.Format(time.RFC3339))
		}
	}
	return appendJSONLine(filepath.Join(d.Path, "revoked.jsonl"), Revocation{Serial: serial, Reason: reason, Time: time.Now().UTC()})
}

// RevokeFilter selects the certificates of a department, of a system, or of a system of
// a department: every system has a signing and an encryption certificate, and a system
// retired or a key compromised means revoking all of them.
type RevokeFilter struct {
	Dept, System string
}

// CheckReason refuses a name that is not one of RFC 5280's CRL reasons.
func CheckReason(name string) error {
	_, err := reasonCode(name)
	return err
}

// Matching returns the certificates this CA issued that f selects and that are not yet
// revoked, in issue order. It refuses an empty filter, and a selection with nothing in
// it, so a mistyped department code is not a silent success.
func (d *Dir) Matching(f RevokeFilter) ([]Issued, error) {
	if f.Dept == "" && f.System == "" {
		return nil, errors.New("revoke: name a department, a system or both")
	}
	issued, err := d.List()
	if err != nil {
		return nil, err
	}
	revs, err := d.Revocations()
	if err != nil {
		return nil, err
	}
	revoked := make(map[string]bool, len(revs))
	for _, r := range revs {
		revoked[r.Serial] = true
	}
	var out []Issued
	for _, c := range issued {
		if revoked[c.Serial] || (f.Dept != "" && c.Dept != f.Dept) || (f.System != "" && c.System != f.System) {
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("revoke: no unrevoked certificate of %s", f)
	}
	return out, nil
}

// RevokeMatching revokes every unrevoked certificate f selects (Matching) and returns them.
func (d *Dir) RevokeMatching(f RevokeFilter, reason string) ([]Issued, error) {
	if _, err := reasonCode(reason); err != nil {
		return nil, err
	}
	match, err := d.Matching(f)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	for i, c := range match {
		if err := appendJSONLine(filepath.Join(d.Path, "revoked.jsonl"), Revocation{Serial: c.Serial, Reason: reason, Time: now}); err != nil {
			return match[:i], fmt.Errorf("revoke %s: %w", c.Serial, err)
		}
	}
	return match, nil
}

// String names the selection for messages: department "X" system "Y".
func (f RevokeFilter) String() string {
	var parts []string
	if f.Dept != "" {
		parts = append(parts, fmt.Sprintf("department %q", f.Dept))
	}
	if f.System != "" {
		parts = append(parts, fmt.Sprintf("system %q", f.System))
	}
	return strings.Join(parts, " ")
}

// CRL issues the next CRL over every revocation and returns it as PEM.
func (d *Dir) CRL(validFor time.Duration) ([]byte, *smx509.RevocationList, error) {
	revs, err := d.Revocations()
	if err != nil {
		return nil, nil, err
	}
	entries := make([]x509.RevocationListEntry, len(revs))
	for i, r := range revs {
		n, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, nil, fmt.Errorf("revoked.jsonl: serial %q", r.Serial)
		}
		code, err := reasonCode(r.Reason)
		if err != nil {
			return nil, nil, err
		}
		entries[i] = x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.Time, ReasonCode: code}
	}
	numPath := filepath.Join(d.Path, "crl.number")
	number := int64(0)
	if b, err := os.ReadFile(numPath); err == nil {
		if number, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return nil, nil, fmt.Errorf("crl.number: %w", err)
		}
	}
	number++
	crl, err := d.CA.CRLEntries(number, entries, validFor)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(numPath, []byte(strconv.FormatInt(number, 10)+"\n"), 0o600); err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw}), crl, nil
}

// Bundles returns the pair as two key-store versions: each the certificate, the chain up
// to (not including) the root, and the private key. The root stays out as in the issued
// files: a peer must already trust it, and sending it only costs every handshake bytes.
func (d *Dir) Bundles(p *Pair) (sign, enc []byte, err error) {
	bundle := func(c *smx509.Certificate, k *crypto.PrivateKey) ([]byte, error) {
		b := crypto.MarshalCertificatePEM(c)
		for _, ch := range d.IssuerChain() {
			b = append(b, crypto.MarshalCertificatePEM(ch)...)
		}
		kp, err := crypto.MarshalPrivateKeyPEM(k, nil)
		return append(b, kp...), err
	}
	if sign, err = bundle(p.SignCert, p.SignKey); err != nil {
		return nil, nil, err
	}
	enc, err = bundle(p.EncCert, p.EncKey)
	return sign, enc, err
}

func appendJSONLine(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readJSONLines(path string, fn func([]byte) error) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	return sc.Err()
}
