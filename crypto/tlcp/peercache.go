package tlcp

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// peerCacheEntries bounds the cache; past it the cache starts again empty.
const peerCacheEntries = 1024

// peerCache remembers verified peer certificates, so that the thousands of connections a
// department keeps open share one parsed copy of its certificates (about 6 KB each otherwise),
// and a handshake pays for chain verification — SM2 signature checks of each certificate
// — only the first time a chain is seen. An entry serves only the trust store it was
// verified against (a new CA set or CRL is a new store, and empties the cache), the same
// usage and server name, and only while every certificate of its chains is valid.
// Failures are not remembered: a refused peer is verified, and refused, again.
type peerCache struct {
	mu      sync.Mutex
	trust   *TrustStore
	entries map[peerKey]*PeerCertificates
}

type peerKey struct {
	usage  smx509.ExtKeyUsage
	server string
	chain  string // the DER certificates, each after its length
}

func newPeerCache() *peerCache { return &peerCache{entries: map[peerKey]*PeerCertificates{}} }

// verify is verifyPeer through the cache; a nil cache verifies every time.
func (pc *peerCache) verify(raw [][]byte, ts *TrustStore, usage smx509.ExtKeyUsage, now time.Time, server string) (*PeerCertificates, error) {
	if pc == nil || ts == nil {
		p, err := verifyPeer(raw, ts, usage, now, server)
		if err == nil {
			p.chain = chainKey(raw)
		}
		return p, err
	}
	key := peerKey{usage: usage, server: server, chain: chainKey(raw)}
	pc.mu.Lock()
	if pc.trust != ts {
		clear(pc.entries)
		pc.trust = ts
	}
	p := pc.entries[key]
	pc.mu.Unlock()
	if p != nil && p.validAt(now) {
		return p, nil
	}
	p, err := verifyPeer(raw, ts, usage, now, server)
	if err != nil {
		return nil, err
	}
	p.chain = key.chain
	pc.mu.Lock()
	if pc.trust == ts {
		if len(pc.entries) >= peerCacheEntries {
			clear(pc.entries)
		}
		pc.entries[key] = p
	}
	pc.mu.Unlock()
	return p, nil
}

func chainKey(raw [][]byte) string {
	n := 0
	for _, der := range raw {
		n += 4 + len(der)
	}
	b := make([]byte, 0, n)
	for _, der := range raw {
		b = binary.BigEndian.AppendUint32(b, uint32(len(der)))
		b = append(b, der...)
	}
	return string(b)
}
