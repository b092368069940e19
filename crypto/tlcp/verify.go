package tlcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync/atomic"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// TrustStore is the set of CAs a peer's certificate must chain to and the serials they
// have revoked. It is swapped whole when the CA set or a CRL changes, so a handshake sees
// one consistent view.
type TrustStore struct {
	Roots   *smx509.CertPool
	CAs     []*smx509.Certificate // the certificates in Roots, for listing
	Revoked map[string]bool       // hex serial, lower case → revoked
}

// NewTrustStore builds a store from CA certificates and the CRLs they signed. A CRL that
// no given CA signed is refused.
func NewTrustStore(cas []*smx509.Certificate, crls []*smx509.RevocationList) (*TrustStore, error) {
	if len(cas) == 0 {
		return nil, errors.New("trust store: no CA certificate")
	}
	ts := &TrustStore{Roots: smx509.NewCertPool(), CAs: cas, Revoked: map[string]bool{}}
	for _, c := range cas {
		ts.Roots.AddCert(c)
	}
	for i, crl := range crls {
		signed := false
		for _, ca := range cas {
			if crl.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, fmt.Errorf("trust store: CRL %d is not signed by a configured CA", i+1)
		}
		for _, e := range crl.RevokedCertificateEntries {
			ts.Revoked[serialHex(e.SerialNumber)] = true
		}
	}
	return ts, nil
}

func serialHex(n *big.Int) string { return fmt.Sprintf("%x", n) }

// TrustSource holds the current trust store.
type TrustSource struct{ v atomic.Pointer[TrustStore] }

// Store installs ts for every later handshake.
func (s *TrustSource) Store(ts *TrustStore) { s.v.Store(ts) }

// Load returns the current trust store.
func (s *TrustSource) Load() *TrustStore { return s.v.Load() }

// PeerCertificates are a verified TLCP peer's signing and encryption certificates.
type PeerCertificates struct {
	Sign *smx509.Certificate
	Enc  *smx509.Certificate // nil when the peer sent only a signing certificate
	// SerialHex is the signing certificate's serial in lower-case hex, computed once per
	// connection rather than once per request.
	SerialHex string
	// SignURIs are the signing certificate's URI SANs as strings (where the department
	// is named), also computed once rather than per request.
	SignURIs []string
	// validFrom and validUntil bound the validity of every certificate in the verified
	// chains: outside them the verification no longer holds.
	validFrom, validUntil time.Time
	// chain is the Certificate message as the peer sent it (chainKey's form), kept to
	// verify the peer again when the trust store changes under an open connection.
	chain string
}

// rawChain decodes chain back into the DER certificates.
func (p *PeerCertificates) rawChain() [][]byte {
	var out [][]byte
	for s := p.chain; len(s) >= 4; {
		n := int(binary.BigEndian.Uint32([]byte(s[:4])))
		if n > len(s)-4 {
			break
		}
		out = append(out, []byte(s[4:4+n]))
		s = s[4+n:]
	}
	return out
}

func (p *PeerCertificates) validAt(now time.Time) bool {
	return !now.Before(p.validFrom) && !now.After(p.validUntil)
}

// narrow shrinks p's validity to the certificates of chains.
func (p *PeerCertificates) narrow(chains [][]*smx509.Certificate) {
	for _, chain := range chains {
		for _, c := range chain {
			if p.validFrom.IsZero() || c.NotBefore.After(p.validFrom) {
				p.validFrom = c.NotBefore
			}
			if p.validUntil.IsZero() || c.NotAfter.Before(p.validUntil) {
				p.validUntil = c.NotAfter
			}
		}
	}
}

// verifyPeer checks a peer's Certificate message (signing, encryption, chain) with
// emmansun: both certificates chain to the trust store for usage, neither is revoked, the
// signing one can sign, the encryption one can encipher, they share a subject and the
// encryption one names no URI SAN (department, role) the signing one does not.
func verifyPeer(raw [][]byte, ts *TrustStore, usage smx509.ExtKeyUsage, now time.Time, serverName string) (*PeerCertificates, error) {
	if ts == nil {
		return nil, certError(ReasonUntrusted, nil, errors.New("tlcp: no trust store loaded"))
	}
	if len(raw) == 0 {
		return nil, certError(ReasonNoCertificate, nil, errors.New("tlcp: the peer sent no certificate"))
	}
	certs := make([]*smx509.Certificate, len(raw))
	for i, der := range raw {
		c, err := smx509.ParseCertificate(der)
		if err != nil {
			return nil, certError(ReasonBadCertificate, certs[0], fmt.Errorf("tlcp: peer certificate %d: %w", i+1, err))
		}
		certs[i] = c
	}
	inter := smx509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := smx509.VerifyOptions{Roots: ts.Roots, Intermediates: inter, CurrentTime: now, KeyUsages: []smx509.ExtKeyUsage{usage}, DNSName: serverName}
	peer := &PeerCertificates{Sign: certs[0], SerialHex: serialHex(certs[0].SerialNumber)}
	for _, u := range certs[0].URIs {
		peer.SignURIs = append(peer.SignURIs, u.String())
	}
	if len(certs) > 1 && isEncryptionCert(certs[1]) {
		peer.Enc = certs[1]
	}
	if certs[0].KeyUsage&smx509.KeyUsageDigitalSignature == 0 {
		return nil, certError(ReasonBadCertificate, certs[0], errors.New("tlcp: the first certificate is not a signing certificate (no digitalSignature key usage)"))
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return nil, certError(chainReason(err), certs[0], fmt.Errorf("tlcp: signing certificate: %w", err))
	}
	peer.narrow(chains)
	if peer.Enc != nil {
		opts.DNSName = ""
		chains, err := peer.Enc.Verify(opts)
		if err != nil {
			return nil, certError(chainReason(err), certs[0], fmt.Errorf("tlcp: encryption certificate: %w", err))
		}
		peer.narrow(chains)
		if string(peer.Enc.RawSubject) != string(peer.Sign.RawSubject) {
			return nil, certError(ReasonBadCertificate, certs[0], errors.New("tlcp: the signing and encryption certificates name different subjects"))
		}
		// The department is in the URI SAN, not the subject (CN=<system>): two
		// departments' systems of one name share a subject, so the pair is one party's
		// only if the encryption certificate names no URI the signing one does not.
		if uri, ok := foreignURI(peer.Enc, peer.SignURIs); !ok {
			return nil, certError(ReasonBadCertificate, certs[0], fmt.Errorf("tlcp: the encryption certificate names %s, which the signing certificate does not", uri))
		}
	}
	for _, c := range []*smx509.Certificate{peer.Sign, peer.Enc} {
		if c != nil && ts.Revoked[serialHex(c.SerialNumber)] {
			return nil, certError(ReasonRevoked, certs[0], fmt.Errorf("tlcp: certificate %x is revoked", c.SerialNumber))
		}
	}
	return peer, nil
}

// isEncryptionCert tells a TLCP encryption certificate from a CA of the chain in the
// second place of a Certificate message: not a CA, no digitalSignature, and an
// encipherment or key-agreement usage (gmtls applies the same rule before it uses an
// ECDHE client's key).
func isEncryptionCert(c *smx509.Certificate) bool {
	const enc = smx509.KeyUsageKeyEncipherment | smx509.KeyUsageDataEncipherment | smx509.KeyUsageKeyAgreement
	return !c.IsCA && c.KeyUsage&smx509.KeyUsageDigitalSignature == 0 && c.KeyUsage&enc != 0
}

// foreignURI returns the first URI SAN of enc that is not among signURIs, and false; true
// when there is none.
func foreignURI(enc *smx509.Certificate, signURIs []string) (string, bool) {
	for _, u := range enc.URIs {
		if !slices.Contains(signURIs, u.String()) {
			return u.String(), false
		}
	}
	return "", true
}
