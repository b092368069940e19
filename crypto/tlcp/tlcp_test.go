package tlcp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
)

func TestHandshakeAndRequest(t *testing.T) {
	p := newTestPKI(t)
	addr, _, _ := startServer(t, p)
	body, err := get(t, addr, p.client, p.trust)
	if err != nil {
		t.Fatal(err)
	}
	if body != "hello hukou-sync" {
		t.Errorf("body %q", body)
	}
}

func TestClientCertificatesRefused(t *testing.T) {
	p := newTestPKI(t)
	addr, _, _ := startServer(t, p)

	foreign, expired, revoked, ts := p.refusedClients(t)

	swapped := identity(&certs.Pair{SignCert: p.client.EncCert, SignKey: p.client.EncKey, EncCert: p.client.SignCert, EncKey: p.client.SignKey})
	cases := map[string]*Identity{
		"another CA":                 identity(foreign),
		"expired":                    identity(expired),
		"revoked":                    identity(revoked),
		"encryption cert as signing": swapped,
	}
	clientTrust := &TrustSource{}
	clientTrust.Store(ts)
	for _, s := range allSuites {
		for name, id := range cases {
			if _, err := dialUnchecked(t, addr, id, clientTrust, s); err == nil {
				t.Errorf("%s over %s: accepted", name, s)
			}
		}
	}
	// No client certificate at all.
	if err := helloWithoutCertificate(t, addr); err == nil {
		t.Error("a client without a certificate completed a request")
	}
	// The good client is still served after all of that.
	if _, err := get(t, addr, p.client, clientTrust); err != nil {
		t.Fatalf("good client after refusals: %v", err)
	}
}

// Hostile inputs that crash gmtls at its defaults. After each, the next good client
// must be served: the process is still up and the listener still accepts. Run against a
// listener accepting each suite alone and one accepting them all.
func TestHostileHellosDoNotStopTheServer(t *testing.T) {
	for _, suites := range [][]Suite{nil, {ECDHE_SM4_GCM_SM3}, {ECC_SM4_GCM_SM3}, {ECDHE_SM4_CBC_SM3}, {ECC_SM4_CBC_SM3}} {
		t.Run(fmt.Sprint(suites), func(t *testing.T) { hostileHellos(t, suites) })
	}
}

func hostileHellos(t *testing.T, suites []Suite) {
	p := newTestPKI(t)
	addr, _, ln := startServerSuites(t, p, suites)
	attacks := map[string][]byte{
		"ECDHE-only ClientHello":  clientHello(0x0101, []uint16{0xe011}, nil, nil),
		"ECDHE-GCM-only hello":    clientHello(0x0101, []uint16{0xe051}, nil, nil),
		"GCM-only hello":          clientHello(0x0101, []uint16{0xe053}, nil, nil),
		"GCM hello with ticket":   clientHello(0x0101, []uint16{0xe051, 0xe053}, randomBytes(32), ticketExtension()),
		"session resumption":      clientHello(0x0101, []uint16{0xe013}, randomBytes(32), ticketExtension()),
		"TLS 1.0 ClientHello":     clientHello(0x0301, []uint16{0x002f, 0x0035}, nil, nil),
		"TLS 1.2 ClientHello":     clientHello(0x0303, []uint16{0xc02f}, nil, nil),
		"truncated hello":         clientHello(0x0101, []uint16{0xe013}, nil, nil)[:20],
		"random bytes":            randomBytes(512),
		"oversized record length": {0x16, 0x01, 0x01, 0xff, 0xff, 0x01},
		"handshake length lies":   lyingHello(),
	}
	for name, raw := range attacks {
		sendRaw(t, addr, raw)
		if _, err := get(t, addr, p.client, p.trust); err != nil {
			t.Fatalf("after %s the server does not serve: %v", name, err)
		}
	}
	t.Logf("gmtls panics recovered: %d", ln.RecoveredPanics())
}

func sendRaw(t testing.TB, addr string, raw []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write(raw)
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// sendRawQuick writes raw and closes without waiting for the server's answer.
func sendRawQuick(t testing.TB, addr string, raw []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(raw)
	c.Close()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// clientHello builds one handshake record: a ClientHello of the given version, suites,
// session id and extensions.
func clientHello(version uint16, suites []uint16, sessionID, extensions []byte) []byte {
	var h []byte
	h = binary.BigEndian.AppendUint16(h, version)
	h = append(h, randomBytes(32)...)
	h = append(h, byte(len(sessionID)))
	h = append(h, sessionID...)
	h = binary.BigEndian.AppendUint16(h, uint16(2*len(suites)))
	for _, s := range suites {
		h = binary.BigEndian.AppendUint16(h, s)
	}
	h = append(h, 1, 0) // null compression
	if extensions != nil {
		h = binary.BigEndian.AppendUint16(h, uint16(len(extensions)))
		h = append(h, extensions...)
	}
	msg := append([]byte{1, byte(len(h) >> 16), byte(len(h) >> 8), byte(len(h))}, h...)
	rec := []byte{0x16}
	rec = binary.BigEndian.AppendUint16(rec, version)
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(msg)))
	return append(rec, msg...)
}

func ticketExtension() []byte {
	ticket := randomBytes(96)
	e := binary.BigEndian.AppendUint16(nil, 0x0023)
	e = binary.BigEndian.AppendUint16(e, uint16(len(ticket)))
	return append(e, ticket...)
}

func lyingHello() []byte {
	h := clientHello(0x0101, []uint16{0xe013}, nil, nil)
	h[6], h[7], h[8] = 0x00, 0xff, 0xff // handshake body claims 64 KiB
	return h
}

// The hostile hellos above no longer reach gmtls's crashing paths with this configuration,
// so the recover backstop is exercised directly: a panic inside a gmtls call becomes an
// error on that connection and is counted.
func TestGuardRecoversPanics(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ln := &Listener{}
	c := &Conn{raw: a, log: quietLogger(), panics: &ln.panics}
	err := c.guard("handshake", func() error { panic("runtime error: index out of range") })
	if err == nil {
		t.Fatal("a panic inside gmtls was not turned into an error")
	}
	if ln.RecoveredPanics() != 1 {
		t.Errorf("recovered panics = %d, want 1", ln.RecoveredPanics())
	}
	if err := c.guard("read", func() error { return nil }); err != nil {
		t.Errorf("a call that does not panic failed: %v", err)
	}
}

// refusedClients issues the pairs a listener must refuse — another CA's, an expired one,
// a revoked one — and makes the server trust p's CA with a CRL listing the revoked pair;
// it returns the pairs and that trust store.
func (p *testPKI) refusedClients(t *testing.T) (foreign, expired, revoked *certs.Pair, ts *TrustStore) {
	t.Helper()
	other, _ := certs.NewRootCA("another root", "elsewhere", time.Hour)
	foreign, _ = other.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "impostor"})
	expired, _ = p.ca.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "old", NotBefore: time.Now().Add(-48 * time.Hour), ValidFor: 24 * time.Hour})
	revoked, _ = p.ca.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "revoked"})
	crl, err := p.ca.CRL(1, []*big.Int{serial(revoked.SignCert)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ts, err = NewTrustStore([]*smx509.Certificate{p.ca.Cert}, []*smx509.RevocationList{crl})
	if err != nil {
		t.Fatal(err)
	}
	p.trust.Store(ts)
	return foreign, expired, revoked, ts
}
