package gateway

import (
	"crypto/x509"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// TLSPeerChecker verifies again, at a request, the certificate chain a standard TLS peer
// presented at its handshake: a keep-alive connection outlives the CA set and CRL it was
// verified against, and a department revoked since must not go on being served.
type TLSPeerChecker interface {
	CheckPeer(peer []*x509.Certificate, now time.Time) *Error
}

// tlsVerdicts remembers, for one loaded trust state, what each leaf certificate was
// found to be, so that a request pays for chain verification only once per certificate
// and trust state. A new state starts with none.
type tlsVerdicts struct {
	mu     sync.RWMutex
	byCert map[string]*Error // leaf DER → nil (trusted) or the refusal
}

// CheckPeer implements TLSPeerChecker against the configuration in force now.
func (t *TLSTransport) CheckPeer(peer []*x509.Certificate, now time.Time) *Error {
	if len(peer) == 0 {
		return Errorf(fasthttp.StatusUnauthorized, "no_client_certificate", "the TLS handshake did not verify a client certificate")
	}
	leaf := peer[0]
	if now.After(leaf.NotAfter) {
		return Errorf(fasthttp.StatusUnauthorized, "certificate_expired", "the certificate of this connection has expired since it was opened")
	}
	st := t.state.Load()
	v := &st.verdicts
	v.mu.RLock()
	e, seen := v.byCert[string(leaf.Raw)]
	v.mu.RUnlock()
	if seen {
		return e
	}
	e = st.verify(peer, now)
	v.mu.Lock()
	if v.byCert == nil {
		v.byCert = map[string]*Error{}
	}
	v.byCert[string(leaf.Raw)] = e
	v.mu.Unlock()
	return e
}

// verify checks peer as the handshake would with this state: a chain to one of its CAs
// for client authentication, and no certificate of any chain on its CRLs.
func (st *tlsState) verify(peer []*x509.Certificate, now time.Time) *Error {
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	chains, err := peer[0].Verify(x509.VerifyOptions{
		Roots: st.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Errorf(fasthttp.StatusUnauthorized, "certificate_untrusted", "the certificate of this connection no longer chains to a trusted CA").withCause(err)
	}
	for _, chain := range chains {
		for _, c := range chain {
			if st.revoked[c.SerialNumber.Text(16)] {
				return Errorf(fasthttp.StatusUnauthorized, "certificate_revoked", "the certificate of this connection has been revoked since it was opened")
			}
		}
	}
	return nil
}
