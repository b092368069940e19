package tlcp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto/tlcp/internal/gmtls"
)

var allSuites = []Suite{ECDHE_SM4_GCM_SM3, ECC_SM4_GCM_SM3, ECDHE_SM4_CBC_SM3, ECC_SM4_CBC_SM3}

func TestParseSuites(t *testing.T) {
	for _, s := range allSuites {
		got, err := ParseSuite(" " + strings.ToLower(s.String()) + " ")
		if err != nil || got != s {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if got := fmt.Sprintf("%04X", []uint16{uint16(ECDHE_SM4_GCM_SM3), uint16(ECC_SM4_GCM_SM3), uint16(ECDHE_SM4_CBC_SM3), uint16(ECC_SM4_CBC_SM3)}); got != "[E051 E053 E011 E013]" {
		t.Errorf("suite numbers %s, want GB/T 38636-2020's E051 E053 E011 E013", got)
	}
	if d := DefaultSuites(); fmt.Sprint(d) != "[ECDHE_SM4_GCM_SM3 ECC_SM4_GCM_SM3 ECC_SM4_CBC_SM3 ECDHE_SM4_CBC_SM3]" {
		t.Errorf("default order %v", d)
	}
	for _, bad := range [][]string{{"ECDHE_SM4_GCM_SM4"}, {"TLS_AES_128_GCM_SHA256"}, {"ECC_SM4_CBC_SM3", ""}, {"ECC_SM4_CBC_SM3", "ecc_sm4_cbc_sm3"}, {"SM2-WITH-SMS4-SM3"}} {
		if _, err := ParseSuites(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if !strings.Contains(err.Error(), "ECDHE_SM4_GCM_SM3") && !strings.Contains(err.Error(), "twice") {
			t.Errorf("%q: the refusal %q does not list the known suites", bad, err)
		}
	}
	if got, err := ParseSuiteList("ECC_SM4_GCM_SM3, ECC_SM4_CBC_SM3"); err != nil || fmt.Sprint(got) != "[ECC_SM4_GCM_SM3 ECC_SM4_CBC_SM3]" {
		t.Errorf("list: %v %v", got, err)
	}
	if got, _ := ParseSuiteList(""); fmt.Sprint(got) != fmt.Sprint(DefaultSuites()) {
		t.Errorf("empty list: %v", got)
	}
	// A configuration cannot smuggle in a suite number govgate does not speak.
	if _, err := NewListener(nil, ServerConfig{Identity: &IdentitySource{}, Trust: &TrustSource{}, Suites: []Suite{0xE001}}); err == nil {
		t.Error("listener with suite 0xE001 accepted")
	}
	if _, err := suiteIDs([]Suite{}); err == nil {
		t.Error("an empty (non-nil) suite list accepted")
	}
	if _, err := suiteIDs([]Suite{0x002F}); err == nil {
		t.Error("TLS_RSA_WITH_AES_128_CBC_SHA accepted")
	}
}

// dialSuites dials with id offering suites.
func dialSuites(t testing.TB, addr string, id *Identity, trust *TrustSource, suites []Suite) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Dial(ctx, "tcp", addr, ClientConfig{Identity: id, Trust: trust, ServerName: "localhost", Logger: quietLogger(), Suites: suites})
}

// echoes posts each body on c in turn and checks it comes back, with the suite the server
// saw.
func echoes(t *testing.T, c *Conn, want Suite, bodies ...[]byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i, body := range bodies {
		req := fmt.Appendf(nil, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n", len(body))
		resp, got := roundTrip(t, c, br, i+1, append(req, body...))
		if !bytes.Equal(got, body) {
			t.Fatalf("response %d: %d bytes came back different from the %d sent", i+1, len(got), len(body))
		}
		if s := resp.Header.Get("X-Suite"); s != want.String() {
			t.Fatalf("the server negotiated %s, want %s", s, want)
		}
	}
}

func randomBody(n int) []byte { b := make([]byte, n); rand.Read(b); return b }

// TestEverySuiteEndToEnd: each suite, real handshakes with mutual authentication, and data
// both ways — bodies of several records (past the 16 KiB record limit) up and back, on one
// kept-alive connection so that sequence numbers, nonces and IVs carry from record to
// record — whether the client or the server narrows the choice to it.
func TestEverySuiteEndToEnd(t *testing.T) {
	p := newTestPKI(t)
	defaultAddr, _, _ := startServerSuites(t, p, nil)
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			onlyAddr, _, _ := startServerSuites(t, p, []Suite{s})
			for name, c := range map[string]struct {
				addr   string
				offers []Suite
			}{"client offers only it": {defaultAddr, []Suite{s}}, "server accepts only it": {onlyAddr, nil}} {
				conn, err := dialSuites(t, c.addr, p.client, p.trust, c.offers)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if conn.Suite() != s {
					t.Errorf("%s: client negotiated %s", name, conn.Suite())
				}
				if peer := conn.Peer(); peer == nil || peer.Sign.Subject.CommonName != p.server.SignCert.Subject.CommonName || peer.Enc == nil {
					t.Errorf("%s: the server's certificates were not verified: %+v", name, peer)
				}
				echoes(t, conn, s, randomBody(1), randomBody(40<<10), []byte("third"))
				conn.Close()
			}
		})
	}
}

// The server's order decides: a client listing ECC and CBC first still gets forward
// secrecy and GCM when it offers them.
func TestServerPreferenceDecides(t *testing.T) {
	p := newTestPKI(t)
	addr, _, _ := startServerSuites(t, p, nil)
	for offers, want := range map[string]Suite{
		"ECC_SM4_CBC_SM3,ECDHE_SM4_CBC_SM3,ECC_SM4_GCM_SM3,ECDHE_SM4_GCM_SM3": ECDHE_SM4_GCM_SM3,
		"ECC_SM4_CBC_SM3,ECC_SM4_GCM_SM3":                                     ECC_SM4_GCM_SM3,
		// tjfoc's client offers both CBC suites but cannot do the SM2 key exchange:
		// the default order keeps it on ECC.
		"ECDHE_SM4_CBC_SM3,ECC_SM4_CBC_SM3": ECC_SM4_CBC_SM3,
		"ECDHE_SM4_CBC_SM3":                 ECDHE_SM4_CBC_SM3,
	} {
		suites, _ := ParseSuiteList(offers)
		c, err := dialSuites(t, addr, p.client, p.trust, suites)
		if err != nil {
			t.Fatalf("%s: %v", offers, err)
		}
		if c.Suite() != want {
			t.Errorf("client offering %s got %s, want %s", offers, c.Suite(), want)
		}
		c.Close()
	}
	// A server configured CBC-first is obeyed too.
	cbcFirst, _, _ := startServerSuites(t, p, []Suite{ECC_SM4_CBC_SM3, ECDHE_SM4_GCM_SM3})
	c, err := dialSuites(t, cbcFirst, p.client, p.trust, nil)
	if err != nil || c.Suite() != ECC_SM4_CBC_SM3 {
		t.Fatalf("CBC-first server: %v %v", c, err)
	}
	c.Close()
}

// A client offering only suites the server does not accept gets handshake_failure, and
// the listener reports a protocol failure; the server goes on serving.
func TestSuiteNotAcceptedIsHandshakeFailure(t *testing.T) {
	p := newTestPKI(t)
	for _, s := range allSuites {
		var others []Suite
		for _, o := range allSuites {
			if o != s {
				others = append(others, o)
			}
		}
		addr, _, ln := startServerSuites(t, p, others)
		reasons := make(chan string, 1)
		ln.OnHandshakeFailure(func(f HandshakeFailure) { reasons <- f.Reason })
		_, err := dialSuites(t, addr, p.client, p.trust, []Suite{s})
		if err == nil || !strings.Contains(err.Error(), "handshake failure") {
			t.Errorf("client offering only %s to a server without it: %v, want a handshake_failure alert", s, err)
		}
		if r := <-reasons; r != ReasonProtocol {
			t.Errorf("%s: reported as %s", s, r)
		}
		c, err := dialSuites(t, addr, p.client, p.trust, nil)
		if err != nil {
			t.Errorf("after refusing %s the server does not serve: %v", s, err)
			continue
		}
		c.Close()
	}
}

// chainPKI is a department pair issued by an intermediate CA: the Certificate message
// then has a chain to show.
func chainPKI(t *testing.T, p *testPKI) (*Identity, *certs.CA) {
	t.Helper()
	inter, err := certs.NewIntermediateCA(p.ca, "govgate test departments", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := inter.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "chained"})
	if err != nil {
		t.Fatal(err)
	}
	return identity(pair, inter.Cert), inter
}

// TestClientCertificateMessagePerSuite: what govgate's client puts in its Certificate
// message, read off the wire. GB/T 38636-2020: the ECC suites authenticate the client by
// its signing key alone — signing certificate and its chain, the form GmSSL's server reads
// (an encryption certificate in the second place reads to it as an invalid CA); the ECDHE
// suites use the client's encryption key in the SM2 key exchange — signing certificate,
// encryption certificate, then the chain, as the server sends its own.
func TestClientCertificateMessagePerSuite(t *testing.T) {
	p := newTestPKI(t)
	id, inter := chainPKI(t, p)
	addr, _, _ := startServerSuites(t, p, nil)
	proxy := startWireProxy(t, addr)
	want := map[Suite][][]byte{
		ECC_SM4_CBC_SM3:   {id.SignCert.Raw, inter.Cert.Raw},
		ECC_SM4_GCM_SM3:   {id.SignCert.Raw, inter.Cert.Raw},
		ECDHE_SM4_CBC_SM3: {id.SignCert.Raw, id.EncCert.Raw, inter.Cert.Raw},
		ECDHE_SM4_GCM_SM3: {id.SignCert.Raw, id.EncCert.Raw, inter.Cert.Raw},
	}
	for _, s := range allSuites {
		c, err := dialSuites(t, proxy.addr, id, p.trust, []Suite{s})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		echoes(t, c, s, []byte("x"))
		c.Close()
		sent := proxy.clientCertificates()
		got := sent[len(sent)-1]
		if !sameNames(got, want[s]) {
			t.Errorf("%s: the client sent %d certificates %v, want %v", s, len(got), certNames(t, got), certNames(t, want[s]))
		}
	}
}

func certNames(t *testing.T, list [][]byte) []string {
	var out []string
	for _, der := range list {
		c, err := gmtlsParse(der)
		if err != nil {
			out = append(out, "unparsable")
			continue
		}
		out = append(out, c)
	}
	return out
}

// TestOtherClientCertificateFormsAccepted: for the ECC suites the listener still accepts a
// client that sends signing, encryption, chain (what govgate sent before, and some stacks
// send for every suite) as well as signing certificate plus chain (GmSSL's form, and
// govgate's now).
func TestOtherClientCertificateFormsAccepted(t *testing.T) {
	p := newTestPKI(t)
	id, inter := chainPKI(t, p)
	addr, _, _ := startServerSuites(t, p, nil)
	for name, list := range map[string][][]byte{
		"signing, encryption, chain": {id.SignCert.Raw, id.EncCert.Raw, inter.Cert.Raw},
		"signing, chain":             {id.SignCert.Raw, inter.Cert.Raw},
	} {
		for _, s := range []Suite{ECC_SM4_CBC_SM3, ECC_SM4_GCM_SM3} {
			c, err := rawListClient(t, addr, p, list, id, s)
			if err != nil {
				t.Errorf("%s over %s: %v", name, s, err)
				continue
			}
			if got := keepAliveGets(t, c, 1); got != "hello "+id.SignCert.Subject.CommonName {
				t.Errorf("%s over %s: %q", name, s, got)
			}
			c.Close()
		}
	}
}

// TestECDHEWithoutEncryptionCertificateRefused: a client that negotiates ECDHE but sends
// no encryption certificate (its list cut down on the way, as a hostile or broken client
// would send it) is refused with bad_certificate before any key is derived, and reported
// as a bad certificate; so is one whose second certificate is its CA's. A client without
// an encryption key of its own refuses the ECDHE suite itself with a clear error.
func TestECDHEWithoutEncryptionCertificateRefused(t *testing.T) {
	p := newTestPKI(t)
	id, inter := chainPKI(t, p)
	addr, _, ln := startServerSuites(t, p, nil)
	var mu sync.Mutex
	var reported []HandshakeFailure
	ln.OnHandshakeFailure(func(f HandshakeFailure) { mu.Lock(); reported = append(reported, f); mu.Unlock() })
	proxy := startWireProxy(t, addr)
	for name, edit := range map[string]func([][]byte) [][]byte{
		"encryption certificate removed":           func(l [][]byte) [][]byte { return [][]byte{l[0], l[2]} },
		"CA in the encryption certificate's place": func(l [][]byte) [][]byte { return [][]byte{l[0], l[2], l[2]} },
		"encryption certificate moved last":        func(l [][]byte) [][]byte { return [][]byte{l[0], l[2], l[1]} },
	} {
		for _, s := range []Suite{ECDHE_SM4_GCM_SM3, ECDHE_SM4_CBC_SM3} {
			proxy.setEdit(edit)
			_, err := dialSuites(t, proxy.addr, id, p.trust, []Suite{s})
			if err == nil || !strings.Contains(err.Error(), "bad certificate") {
				t.Errorf("%s over %s: %v, want a bad_certificate alert", name, s, err)
			}
		}
	}
	proxy.setEdit(nil)
	// The listener reports from the connection's goroutine, after the alert has gone.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(reported)
		mu.Unlock()
		if n >= 6 {
			break
		}
	}
	mu.Lock()
	for _, f := range reported {
		if f.Reason != ReasonBadCertificate || !errors.Is(f.Err, gmtls.ErrNoClientEncryptionCertificate) {
			t.Errorf("reported as %s: %v", f.Reason, f.Err)
		}
	}
	if len(reported) != 6 {
		t.Errorf("%d failures reported, want 6", len(reported))
	}
	mu.Unlock()

	// A client whose key holds no encryption pair cannot do ECDHE, and says so.
	_, err := rawListClient(t, addr, p, [][]byte{id.SignCert.Raw, inter.Cert.Raw}, id, ECDHE_SM4_GCM_SM3)
	if err == nil || !strings.Contains(err.Error(), "encryption certificate and key") {
		t.Errorf("ECDHE without a client encryption key: %v", err)
	}
	c, err := dialSuites(t, proxy.addr, id, p.trust, []Suite{ECDHE_SM4_GCM_SM3})
	if err != nil {
		t.Fatalf("the whole pair after the refusals: %v", err)
	}
	c.Close()
}

// TestTamperedRecordsRefused: a record changed on the way — its explicit nonce or IV, its
// ciphertext, its tag or MAC — is refused with bad_record_mac and the connection closed,
// for every suite.
func TestTamperedRecordsRefused(t *testing.T) {
	p := newTestPKI(t)
	addr, _, _ := startServerSuites(t, p, nil)
	proxy := startWireProxy(t, addr)
	for _, s := range allSuites {
		for where, at := range map[string]func(n int) int{
			"explicit nonce or IV": func(int) int { return 0 },
			"ciphertext":           func(n int) int { return n / 2 },
			"tag or MAC":           func(n int) int { return n - 1 },
		} {
			proxy.setTamper(func(body []byte) { body[at(len(body))] ^= 0x01 })
			c, err := dialSuites(t, proxy.addr, p.client, p.trust, []Suite{s})
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			_, err = request(c)
			if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
				t.Errorf("%s, %s changed: %v, want a bad_record_mac alert", s, where, err)
			}
		}
	}
	proxy.setTamper(nil)
	c, err := dialSuites(t, proxy.addr, p.client, p.trust, nil)
	if err != nil {
		t.Fatal(err)
	}
	echoes(t, c, ECDHE_SM4_GCM_SM3, []byte("untouched"))
	c.Close()
}

// rawListClient is a gmtls client that sends list as its Certificate message whatever
// the suite, signing with id's signing key and holding no encryption key — a client
// stack other than govgate's.
func rawListClient(t *testing.T, addr string, p *testPKI, list [][]byte, id *Identity, s Suite) (net.Conn, error) {
	t.Helper()
	raw, err := netDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	cert := gmtls.Certificate{Certificate: list, PrivateKey: signer{id.SignKey}}
	c := gmtls.Client(raw, &gmtls.Config{
		GMSupport:              &gmtls.GMSupport{},
		CipherSuites:           []uint16{uint16(s)},
		InsecureSkipVerify:     true,
		SessionTicketsDisabled: true,
		GetClientCertificate:   func(*gmtls.CertificateRequestInfo) (*gmtls.Certificate, error) { return &cert, nil },
	})
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	return gmConn{Conn: raw, tls: c}, nil
}

// gmConn reads and writes through gmtls, and has the socket's addresses and deadlines.
type gmConn struct {
	net.Conn
	tls *gmtls.Conn
}

func (c gmConn) Read(b []byte) (int, error)  { return c.tls.Read(b) }
func (c gmConn) Write(b []byte) (int, error) { return c.tls.Write(b) }
func (c gmConn) Close() error                { return c.tls.Close() }

// gmtlsParse names a certificate for a test message: its CN and whether it is a CA.
func gmtlsParse(der []byte) (string, error) {
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		return "", err
	}
	kind := "signing"
	switch {
	case c.IsCA:
		kind = "CA"
	case isEncryptionCert(c):
		kind = "encryption"
	}
	return c.Subject.CommonName + " (" + kind + ")", nil
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }

// TestECDHEServerEncryptionCertificateChecked: with ECDHE the client's key exchange uses
// the server's second certificate, so the client refuses a server whose second
// certificate is not a verified encryption certificate (here one that can also sign,
// which isEncryptionCert refuses); with ECC the server's signature over that certificate
// binds it and the handshake goes on as before.
func TestECDHEServerEncryptionCertificateChecked(t *testing.T) {
	p := newTestPKI(t)
	tmpl := *p.server.EncCert
	tmpl.KeyUsage |= smx509.KeyUsageDigitalSignature
	tmpl.SerialNumber = big.NewInt(0).Add(p.server.EncCert.SerialNumber, big.NewInt(1))
	der, err := smx509.CreateCertificate(rand.Reader, &tmpl, p.ca.Cert, &p.server.EncKey.PublicKey, p.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	dualUse, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	srv := *p.server
	srv.EncCert = dualUse
	p.server = &srv
	addr, _, _ := startServerSuites(t, p, nil)
	for _, s := range []Suite{ECDHE_SM4_GCM_SM3, ECDHE_SM4_CBC_SM3} {
		if c, err := dialSuites(t, addr, p.client, p.trust, []Suite{s}); err == nil {
			c.Close()
			t.Errorf("%s with a dual-use server encryption certificate: accepted", s)
		} else if !strings.Contains(err.Error(), "verified encryption certificate") {
			t.Errorf("%s: %v", s, err)
		}
	}
	c, err := dialSuites(t, addr, p.client, p.trust, []Suite{ECC_SM4_GCM_SM3})
	if err != nil {
		t.Fatalf("ECC with the same server: %v", err)
	}
	c.Close()
}
