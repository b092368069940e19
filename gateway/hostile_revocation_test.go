package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
)

// The connection half of the hostile-traffic suite: a department revoked (or whose CA is
// no longer trusted) while its connection is open is refused at its next request, no
// connection outlives limits.max_connection_age, and every refused TLCP handshake is
// counted by reason and logged — a bounded number of lines however many arrive.

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the log lines containing every one of words.
func (s *syncBuffer) lines(words ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		ok := l != ""
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// tlcpRig is a gateway whose "ext" listener speaks TLCP with a trust store loaded from a
// CA file and a CRL file, as a cryptography administrator maintains them.
type tlcpRig struct {
	p     *pkiFiles
	src   *tlcp.Source
	gw    *testGateway
	addr  string
	audit *recordingAuditor
	logs  *syncBuffer
}

func startTLCPRig(t *testing.T, tune func(*Config)) *tlcpRig {
	t.Helper()
	ca, err := certs.NewRootCA("test root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pkiFiles{dir: t.TempDir(), ca: ca}
	os.WriteFile(filepath.Join(p.dir, "ca.pem"), crypto.MarshalCertificatePEM(ca.Cert), 0o644)
	pair, err := ca.IssuePair(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	p.writePair(t, pair)
	p.writeCRL(t, 1)
	src, err := tlcp.NewSource(context.Background(), p.files(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.TLCP = TLCP{SignCert: "x", SignKey: "x", EncCert: "x", EncKey: "x", ClientCA: "x"}
	if tune != nil {
		tune(cfg)
	}
	cfg.ApplyDefaults()
	logs := &syncBuffer{}
	rec := &recordingAuditor{}
	gw := startGateway(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000),
		Audit:        rec,
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: src.Identity, Trust: src.Trust}},
	}})
	return &tlcpRig{p: p, src: src, gw: gw, addr: gw.ListenerAddr("ext").String(), audit: rec, logs: logs}
}

func (r *tlcpRig) issue(t *testing.T, dept string) *certs.Pair {
	t.Helper()
	pair, err := r.p.ca.IssuePair(certs.PairRequest{Dept: dept, System: "sys-" + dept})
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func (r *tlcpRig) dial(pair *certs.Pair) (*tlcp.Conn, error) {
	return tlcp.Dial(context.Background(), "tcp", r.addr, tlcp.ClientConfig{Identity: tlcpIdentity(pair), Trust: r.src.Trust, ServerName: "localhost"})
}

// tlcpSession is one open TLCP connection that sends requests one after the other.
type tlcpSession struct {
	c    *tlcp.Conn
	r    *bufio.Reader
	host string // the Host sent; "localhost" when empty
}

func (r *tlcpRig) open(t *testing.T, pair *certs.Pair) *tlcpSession {
	t.Helper()
	c, err := r.dial(pair)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tlcpSession{c: c, r: bufio.NewReader(c)}
}

// get sends a GET on the session's connection; err is set when the connection is closed.
func (s *tlcpSession) hostOrLocalhost() string {
	if s.host != "" {
		return s.host
	}
	return "localhost"
}

func (s *tlcpSession) get(path string) (*http.Response, []byte, error) {
	s.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(s.c, "GET "+path+" HTTP/1.1\r\nHost: "+s.hostOrLocalhost()+"\r\n\r\n"); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(s.r, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func (r *tlcpRig) metrics(t *testing.T) []byte {
	t.Helper()
	_, _, body := do(t, "GET", r.gw.admin+"/metrics", "", nil)
	return body
}

// TestRevocationReachesOpenConnections: once a CRL naming a department is live, the
// department's connection opened before it is refused at its next request — 401, audited,
// and closed after the answer — while another department's open connection goes on; the
// same when the CA set no longer holds the department's CA.
func TestRevocationReachesOpenConnections(t *testing.T) {
	r := startTLCPRig(t, nil)
	revoked, kept := r.issue(t, "110000-rensheju"), r.issue(t, "110000-shuiwu")
	sr, sk := r.open(t, revoked), r.open(t, kept)
	for _, s := range []*tlcpSession{sr, sk} {
		if resp, body, err := s.get("/population/v1/persons"); err != nil || resp.StatusCode != 200 || resp.Close {
			t.Fatalf("before revocation: %v %v %s", err, resp, body)
		}
	}

	r.p.writeCRL(t, 2, revoked.SignCert.SerialNumber)
	r.src.Poll(context.Background())

	resp, body, err := sr.get("/population/v1/persons")
	if err != nil {
		t.Fatalf("the revoked connection's next request: %v\n%s", err, r.logs.b.String())
	}
	if resp.StatusCode != 401 || errorCode(t, body) != "certificate_revoked" || !resp.Close {
		t.Errorf("revoked department on its open connection: %d close=%v %s; want 401 certificate_revoked and the connection closed", resp.StatusCode, resp.Close, body)
	}
	if e := r.audit.last(); e.status != 401 || e.code != "certificate_revoked" {
		t.Errorf("audited %+v", e)
	}
	if _, _, err := sr.get("/population/v1/persons"); err == nil {
		t.Error("the revoked department's connection still serves")
	}
	if _, err := r.dial(revoked); err == nil {
		t.Error("the revoked department completed a new handshake")
	}
	if resp, body, err := sk.get("/population/v1/persons"); err != nil || resp.StatusCode != 200 {
		t.Errorf("another department's open connection after the CRL: %v %v %s", err, resp, body)
	}

	// A CA set without the CA that issued the kept department's certificate.
	other, err := certs.NewRootCA("another root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.p.dir, "ca.pem"), crypto.MarshalCertificatePEM(other.Cert), 0o644)
	crl, err := other.CRL(3, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.p.dir, "crl.pem"), pemCRL(crl.Raw), 0o644)
	touch(t, filepath.Join(r.p.dir, "ca.pem"), filepath.Join(r.p.dir, "crl.pem"))
	r.src.Poll(context.Background())
	if r.src.Refused() != 0 {
		t.Fatal("the new CA set was refused")
	}
	resp, body, err = sk.get("/population/v1/persons")
	if err != nil || resp.StatusCode != 401 || errorCode(t, body) != "certificate_untrusted" {
		t.Errorf("a department whose CA left the trust store: %v %v %s; want 401 certificate_untrusted", err, resp, body)
	}
}

// TestRevocationBackstopMaxConnectionAge: a keep-alive connection older than limits.max_connection_age is
// answered with Connection: close and closed after its current response.
func TestRevocationBackstopMaxConnectionAge(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Limits.MaxConnectionAge = time.Second
	gw := startGateway(t, cfg, Options{})
	c := dialRaw(t, gw.base)
	req := "GET /population/v1/persons HTTP/1.1\r\nHost: localhost\r\n\r\n"
	if resp, body := c.roundTrip(t, req); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("young connection: %d close=%v %s", resp.StatusCode, resp.Close, body)
	}
	time.Sleep(time.Second)
	if resp, body := c.roundTrip(t, req); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("connection past its maximum age: %d close=%v %s; want its answer, then closed", resp.StatusCode, resp.Close, body)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.r.ReadByte(); err == nil {
		t.Errorf("the old connection is still open (read %q)", n)
	}
	// The same on a TLCP listener, whose connections fasthttp serves with ReduceMemoryUsage
	// (that a young TLCP connection stays open is TestRevocationReachesOpenConnections's:
	// here the handshake alone can outlast the age under the race detector).
	r := startTLCPRig(t, func(c *Config) { c.Limits.MaxConnectionAge = 300 * time.Millisecond })
	s := r.open(t, r.issue(t, "110000-rensheju"))
	time.Sleep(350 * time.Millisecond)
	if resp, body, err := s.get("/population/v1/persons"); err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Errorf("TLCP connection past its maximum age: %v %v %s", err, resp, body)
	}
	if d := (&Config{}); true {
		d.ApplyDefaults()
		if d.Limits.MaxConnectionAge != DefaultMaxConnectionAge || DefaultMaxConnectionAge != time.Hour {
			t.Errorf("max_connection_age defaults to %v", d.Limits.MaxConnectionAge)
		}
	}
}

// TestRevokedHandshakeCountedAndLogged: a revoked department's refused handshake increments
// govgate_handshake_failures_total{reason="revoked"} and logs its department, serial and
// address; an untrusted certificate and a client that does not speak TLCP count under
// their own reasons.
func TestRevokedHandshakeCountedAndLogged(t *testing.T) {
	r := startTLCPRig(t, nil)
	revoked := r.issue(t, "110000-rensheju")
	r.p.writeCRL(t, 2, revoked.SignCert.SerialNumber)
	r.src.Poll(context.Background())
	if _, err := r.dial(revoked); err == nil {
		t.Fatal("a revoked department completed a handshake")
	}
	stranger, _ := certs.NewRootCA("stranger root", "govgate", time.Hour)
	foreign, _ := stranger.IssuePair(certs.PairRequest{Dept: "990000-stranger", System: "s"})
	if _, err := r.dial(foreign); err == nil {
		t.Fatal("a certificate from an unknown CA completed a handshake")
	}
	plain, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	io.Copy(io.Discard, plain)
	plain.Close()

	serial := fmt.Sprintf("%x", revoked.SignCert.SerialNumber)
	waitFor(t, "the handshake failures to be counted", func() bool {
		m := r.metrics(t)
		return bytes.Contains(m, []byte(`govgate_handshake_failures_total{listener="ext",reason="revoked"} 1`)) &&
			bytes.Contains(m, []byte(`govgate_handshake_failures_total{listener="ext",reason="untrusted"} 1`)) &&
			bytes.Contains(m, []byte(`govgate_handshake_failures_total{listener="ext",reason="protocol"} 1`))
	})
	if l := r.logs.lines("handshake refused", "reason=revoked", "serial="+serial, "dept=110000-rensheju", "remote=127.0.0.1:"); len(l) != 1 {
		t.Errorf("log lines for the revoked handshake: %q\nall logs:\n%s", l, r.logs.b.String())
	}
	if l := r.logs.lines("handshake refused", "reason=untrusted", "dept=990000-stranger"); len(l) != 1 {
		t.Errorf("log lines for the untrusted handshake: %q", l)
	}
}

// TestHandshakeFailureFloodLogsBounded: a flood of refused handshakes — the same revoked
// certificate again and again, and many connections that send no TLCP at all — is counted
// in full but logged a bounded number of times.
func TestHandshakeFailureFloodLogsBounded(t *testing.T) {
	r := startTLCPRig(t, nil)
	revoked := r.issue(t, "110000-rensheju")
	r.p.writeCRL(t, 2, revoked.SignCert.SerialNumber)
	r.src.Poll(context.Background())
	const n = 40
	for i := 0; i < n; i++ {
		if _, err := r.dial(revoked); err == nil {
			t.Fatal("a revoked department completed a handshake")
		}
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "\x16\x03\x01\x00\x05hello")
		io.Copy(io.Discard, c)
		c.Close()
	}
	waitFor(t, "every failure to be counted", func() bool {
		m := r.metrics(t)
		return bytes.Contains(m, []byte(fmt.Sprintf(`govgate_handshake_failures_total{listener="ext",reason="revoked"} %d`, n))) &&
			bytes.Contains(m, []byte(fmt.Sprintf(`govgate_handshake_failures_total{listener="ext",reason="protocol"} %d`, n)))
	})
	if l := r.logs.lines("handshake refused"); len(l) > 2 {
		t.Errorf("%d refused handshakes logged %d lines; want one per reason and peer per window:\n%s", 2*n, len(l), strings.Join(l, "\n"))
	}
	// Nothing else logs them either (fasthttp reports every connection that ends in an error).
	if l := r.logs.lines("handshake"); len(l) > 2 {
		t.Errorf("%d refused handshakes logged %d lines mentioning the handshake:\n%s", 2*n, len(l), strings.Join(l[:min(len(l), 6)], "\n"))
	}
}

func pemCRL(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// TestRevocationReachesOpenAdminConnections: an administrator whose certificate is
// revoked while its admin connection is open loses the API at its next request.
func TestRevocationReachesOpenAdminConnections(t *testing.T) {
	ca, ids, trust := newTLCPServerPKI(t)
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Admin.TLCP = true
	cfg.TLCP = TLCP{SignCert: "x", SignKey: "x", EncCert: "x", EncKey: "x", ClientCA: "x"}
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.ApplyDefaults()
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000),
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: ids, Trust: trust}},
	}})
	operator, _ := ca.IssuePair(certs.PairRequest{System: "ops", Roles: []string{"operator"}})
	c, err := tlcp.Dial(context.Background(), "tcp", gw.AdminAddr().String(), tlcp.ClientConfig{Identity: tlcpIdentity(operator), Trust: trust, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The admin API answers only its own host names, port included.
	s := &tlcpSession{c: c, r: bufio.NewReader(c), host: gw.AdminAddr().String()}
	if resp, _, err := s.get("/metrics"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("operator before revocation: %v %v", err, resp)
	}
	crl, err := ca.CRL(1, []*big.Int{operator.SignCert.SerialNumber}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := tlcp.NewTrustStore([]*smx509.Certificate{ca.Cert}, []*smx509.RevocationList{crl})
	if err != nil {
		t.Fatal(err)
	}
	trust.Store(revoked)
	resp, body, err := s.get("/metrics")
	if err == nil && resp.StatusCode == 200 {
		t.Fatalf("a revoked operator still reads the admin API on its open connection: %s", body[:min(len(body), 80)])
	}
	if err == nil && (resp.StatusCode != 401 || !strings.Contains(string(body), `"code":"certificate_revoked"`)) {
		t.Errorf("revoked operator: %d %s; want 401 certificate_revoked", resp.StatusCode, body)
	}
}

// TestAdminHandshakeFailuresCounted: a revoked administrator's handshake with a TLCP admin
// API is counted and logged like a data listener's, under listener="admin".
func TestAdminHandshakeFailuresCounted(t *testing.T) {
	r := startTLCPRig(t, func(c *Config) { c.Admin.TLCP = true })
	revoked, err := r.p.ca.IssuePair(certs.PairRequest{System: "ops", Roles: []string{"operator"}})
	if err != nil {
		t.Fatal(err)
	}
	r.p.writeCRL(t, 2, revoked.SignCert.SerialNumber)
	r.src.Poll(context.Background())
	if _, err := tlcp.Dial(context.Background(), "tcp", r.gw.AdminAddr().String(), tlcp.ClientConfig{Identity: tlcpIdentity(revoked), Trust: r.src.Trust, ServerName: "localhost"}); err == nil {
		t.Fatal("a revoked administrator completed a handshake with the admin API")
	}
	waitFor(t, "the admin handshake failure to be counted", func() bool {
		return r.gw.HandshakeFailures("admin", tlcp.ReasonRevoked) == 1
	})
	if l := r.logs.lines("handshake refused", "listener=admin", "reason=revoked", fmt.Sprintf("serial=%x", revoked.SignCert.SerialNumber)); len(l) != 1 {
		t.Errorf("admin handshake log lines: %q", l)
	}
}
