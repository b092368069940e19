package certs

import (
	"crypto/x509"
	"sync"
	"time"
)

// PeerRefusal is why a standard TLS peer's chain no longer passes at a request: Code and
// Message are what the gateway answers (401), Err the verifier's own error, for the log.
type PeerRefusal struct {
	Code, Message string
	Err           error
}

func (r *PeerRefusal) Error() string {
	if r.Err != nil {
		return r.Code + ": " + r.Message + ": " + r.Err.Error()
	}
	return r.Code + ": " + r.Message
}

func (r *PeerRefusal) Unwrap() error { return r.Err }

// tlsVerdicts remembers, for one loaded trust state, what each leaf certificate was
// found to be, so that a request pays for chain verification only once per certificate
// and trust state. A new state starts with none.
type tlsVerdicts struct {
	mu     sync.RWMutex
	byCert map[string]*PeerRefusal // leaf DER → nil (trusted) or the refusal
}

// CheckPeer verifies again, at a request, the certificate chain a TLS peer presented at
// its handshake, against the configuration in force now: a keep-alive connection outlives
// the CA set and CRL it was verified against, and a department revoked since must not go
// on being served. It returns nil for a peer that still passes.
func (t *TLSTransport) CheckPeer(peer []*x509.Certificate, now time.Time) *PeerRefusal {
	if len(peer) == 0 {
		return &PeerRefusal{Code: "no_client_certificate", Message: "the TLS handshake did not verify a client certificate"}
	}
	leaf := peer[0]
	if now.After(leaf.NotAfter) {
		return &PeerRefusal{Code: "certificate_expired", Message: "the certificate of this connection has expired since it was opened"}
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
		v.byCert = map[string]*PeerRefusal{}
	}
	v.byCert[string(leaf.Raw)] = e
	v.mu.Unlock()
	return e
}

// verify checks peer as the handshake would with this state: a chain to one of its CAs
// for client authentication, and no certificate of any chain on its CRLs.
func (st *tlsState) verify(peer []*x509.Certificate, now time.Time) *PeerRefusal {
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	chains, err := peer[0].Verify(x509.VerifyOptions{
		Roots: st.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return &PeerRefusal{Code: "certificate_untrusted", Message: "the certificate of this connection no longer chains to a trusted CA", Err: err}
	}
	for _, chain := range chains {
		for _, c := range chain {
			if st.revoked[c.SerialNumber.Text(16)] {
				return &PeerRefusal{Code: "certificate_revoked", Message: "the certificate of this connection has been revoked since it was opened"}
			}
		}
	}
	return nil
}
