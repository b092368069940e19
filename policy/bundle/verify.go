package bundle

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
)

// SignerRole is the administrator role a bundle's signer must hold (三员分立: policy is
// the security officer's).
const SignerRole = "security-officer"

// Signer is who signed a verified bundle, for the admin API and the logs.
type Signer struct {
	Subject    string    `json:"subject"`
	Serial     string    `json:"serial"`
	Department string    `json:"department,omitempty"`
	Issuer     string    `json:"issuer"`
	NotAfter   time.Time `json:"not_after"`
	SignedAt   time.Time `json:"signed_at"`
	// Audience is the fleet the bundle was signed for (this gateway's, or it was refused).
	Audience string `json:"audience"`
	// chain is the verified chain, signer first, for revocation checks after the fact.
	chain []*smx509.Certificate
}

// Verifier checks bundle signatures against trusted CAs and, when it has them, their CRLs.
// The CRL file is read again by Refresh (each poll), so that a signer revoked while the
// gateway runs cannot make a new bundle live.
type Verifier struct {
	roots    *smx509.CertPool
	cas      []*crypto.Certificate
	audience string
	crlFile  string

	mu     sync.Mutex
	crls   []*smx509.RevocationList
	crlErr error // the latest Refresh's failure: every Verify refuses until one succeeds
}

// NewVerifier trusts the CA certificates in the caFiles (PEM), accepts only bundles signed
// for audience (this gateway's fleet) and, when crlFile is set, refuses signers its CRLs
// revoke. A CRL that does not verify against a trusted CA is an error now, not a silent
// pass later.
func NewVerifier(caFiles []string, crlFile, audience string) (*Verifier, error) {
	if len(caFiles) == 0 {
		return nil, errors.New("bundle verifier: no signers CA configured; an unsigned policy is never loaded")
	}
	if err := CheckAudience(audience); err != nil {
		return nil, fmt.Errorf("bundle verifier: %w", err)
	}
	v := &Verifier{roots: smx509.NewCertPool(), audience: audience, crlFile: crlFile}
	var cas []*crypto.Certificate
	for _, f := range caFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("bundle verifier: read signers CA %s: %w", f, err)
		}
		list, err := crypto.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("bundle verifier: signers CA %s: %w", f, err)
		}
		for _, c := range list {
			v.roots.AddCert(c)
		}
		cas = append(cas, list...)
	}
	v.cas = cas
	if err := v.Refresh(); err != nil {
		return nil, err
	}
	return v, nil
}

// Audience is the fleet this verifier accepts bundles for.
func (v *Verifier) Audience() string { return v.audience }

// Refresh reads the CRL file again (nothing without one). On failure (unreadable, not a
// CRL, not signed by a signers CA) it keeps the error, and every Verify refuses until a
// Refresh succeeds: a revocation list that cannot be read cannot vouch for anyone.
func (v *Verifier) Refresh() error {
	if v.crlFile == "" {
		return nil
	}
	crls, err := v.readCRL()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.crlErr = err
	if err == nil {
		v.crls = crls
	}
	return err
}

func (v *Verifier) readCRL() ([]*smx509.RevocationList, error) {
	data, err := os.ReadFile(v.crlFile)
	if err != nil {
		return nil, fmt.Errorf("bundle verifier: read CRL %s: %w", v.crlFile, err)
	}
	crls, err := tlcp.ParseCRLsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("bundle verifier: CRL %s: %w", v.crlFile, err)
	}
	for _, crl := range crls {
		if !signedByOneOf(crl, v.cas) {
			return nil, fmt.Errorf("bundle verifier: CRL %s (issuer %s) is not signed by a signers CA", v.crlFile, crl.Issuer)
		}
	}
	return crls, nil
}

// Revoked reports whether the CRL as last read revokes s's certificate or its chain: the
// signer of a revision already live, revoked since.
func (v *Verifier) Revoked(s *Signer) bool {
	v.mu.Lock()
	crls := v.crls
	v.mu.Unlock()
	for i := 0; i+1 < len(s.chain); i++ {
		if revokedBy(s.chain[i], s.chain[i+1], crls) {
			return true
		}
	}
	return false
}

func revokedBy(c, issuer *smx509.Certificate, crls []*smx509.RevocationList) bool {
	for _, crl := range crls {
		if crl.CheckSignatureFrom(issuer) != nil {
			continue
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return true
			}
		}
	}
	return false
}

func signedByOneOf(crl *smx509.RevocationList, cas []*crypto.Certificate) bool {
	for _, ca := range cas {
		if crl.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

// Verify checks sigFile over bundle at now: the signature is for this verifier's audience,
// the digest is the bundle's, signed_at is not
// ahead of now by more than MaxClockSkew, the chain leads to
// a trusted CA and is valid now, the signer holds the security-officer role and a
// certificate for digital signatures, no configured CRL revokes it (and the CRL is
// current), and the SM2 signature verifies. Nothing of bundle is parsed before it returns
// nil.
func (v *Verifier) Verify(bundle, sigFile []byte, now time.Time) (*Signer, error) {
	sig, err := ParseSignature(sigFile)
	if err != nil {
		return nil, err
	}
	if sig.Audience != v.audience {
		return nil, fmt.Errorf("bundle signature: signed for audience %q, this gateway's is %q (a bundle of another fleet)", sig.Audience, v.audience)
	}
	sum := crypto.SM3(bundle)
	if subtle.ConstantTimeCompare(sum[:], sig.digest) != 1 {
		return nil, errors.New("bundle signature: the digest is not the bundle's (changed after signing, or the signature of another bundle)")
	}
	if sig.signedAt.After(now.Add(MaxClockSkew)) {
		// Refused before it could become the rollback floor (Poller.checkNotOlder).
		return nil, fmt.Errorf("bundle signature: signed_at %s is more than %s ahead of this clock (%s): the signer's clock or this one is wrong",
			sig.SignedAt, MaxClockSkew, now.UTC().Format(time.RFC3339))
	}
	chain := make([]*smx509.Certificate, 0, len(sig.Certificates))
	for i, der := range sig.Certificates {
		c, err := smx509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("bundle signature: certificate %d: %w", i, err)
		}
		chain = append(chain, c)
	}
	leaf := chain[0]
	inter := smx509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	verified, err := leaf.Verify(smx509.VerifyOptions{
		Roots: v.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("bundle signature: signer %s (serial %s): %w", leaf.Subject, serialHex(leaf.SerialNumber), err)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&smx509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("bundle signature: signer %s: the certificate is not for digital signatures", leaf.Subject)
	}
	if !hasRole(leaf, SignerRole) {
		return nil, fmt.Errorf("bundle signature: signer %s (serial %s) is not a %s (no SAN URI %s%s)",
			leaf.Subject, serialHex(leaf.SerialNumber), SignerRole, certs.RoleURIPrefix, SignerRole)
	}
	if err := v.checkRevocation(verified[0], now); err != nil {
		return nil, err
	}
	pub, ok := leaf.PublicKey.(*crypto.PublicKey)
	if !ok {
		return nil, errors.New("bundle signature: the signer's key is not SM2")
	}
	sv, err := crypto.NewVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("bundle signature: %w", err)
	}
	if err := sv.Verify(SignedMessage(sig.digest, sig.SignedAt, sig.Audience), sig.Signature); err != nil {
		return nil, fmt.Errorf("bundle signature: %w", err)
	}
	var uris []string
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	return &Signer{
		Subject:    leaf.Subject.String(),
		Serial:     serialHex(leaf.SerialNumber),
		Department: deptOf(uris),
		Issuer:     leaf.Issuer.String(),
		NotAfter:   leaf.NotAfter,
		SignedAt:   sig.signedAt,
		Audience:   sig.Audience,
		chain:      verified[0],
	}, nil
}

// checkRevocation refuses a chain member that a CRL of its issuer revokes, and a chain
// whose issuer's CRL has passed its next update: a stale list cannot vouch for anyone.
func (v *Verifier) checkRevocation(chain []*smx509.Certificate, now time.Time) error {
	v.mu.Lock()
	crls, crlErr := v.crls, v.crlErr
	v.mu.Unlock()
	if crlErr != nil {
		return fmt.Errorf("bundle signature: revocation cannot be checked: %w", crlErr)
	}
	for i := 0; i+1 < len(chain); i++ {
		c, issuer := chain[i], chain[i+1]
		for _, crl := range crls {
			if crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
				return fmt.Errorf("bundle signature: the CRL of %s expired at %s; refresh it", issuer.Subject, crl.NextUpdate.Format(time.RFC3339))
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
					return fmt.Errorf("bundle signature: signer certificate %s (serial %s) is revoked", c.Subject, serialHex(c.SerialNumber))
				}
			}
		}
	}
	return nil
}

func hasRole(c *smx509.Certificate, role string) bool {
	for _, u := range c.URIs {
		if u.String() == certs.RoleURIPrefix+role {
			return true
		}
	}
	return false
}

func deptOf(uris []string) string {
	for _, s := range uris {
		if d, ok := strings.CutPrefix(s, certs.DeptURIPrefix); ok {
			return d
		}
	}
	return ""
}

func serialHex(n *big.Int) string { return fmt.Sprintf("%x", n) }
