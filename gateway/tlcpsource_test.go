package gateway_test

import (
	"context"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
)

// pkiFiles writes a CA, the gateway's pair and a CRL into dir, as the files a
// cryptography administrator maintains.
type pkiFiles struct {
	dir string
	ca  *certs.CA
}

func (p *pkiFiles) writePair(t *testing.T, pair *certs.Pair) {
	t.Helper()
	for name, c := range map[string]*smx509.Certificate{"sign.pem": pair.SignCert, "enc.pem": pair.EncCert} {
		if err := os.WriteFile(filepath.Join(p.dir, name), crypto.MarshalCertificatePEM(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, k := range map[string]*crypto.PrivateKey{"sign.key": pair.SignKey, "enc.key": pair.EncKey} {
		b, err := crypto.MarshalPrivateKeyPEM(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func (p *pkiFiles) writeCRL(t *testing.T, number int64, revoked ...*big.Int) {
	t.Helper()
	crl, err := p.ca.CRL(number, revoked, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw})
	// A new modification time even within the file system's timestamp granularity.
	path := filepath.Join(p.dir, "crl.pem")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Duration(number) * time.Second)
	os.Chtimes(path, later, later)
}

func (p *pkiFiles) files() tlcp.SourceFiles {
	j := func(n string) string { return filepath.Join(p.dir, n) }
	return tlcp.SourceFiles{SignCert: j("sign.pem"), SignKey: j("sign.key"), EncCert: j("enc.pem"), EncKey: j("enc.key"), ClientCA: []string{j("ca.pem")}, ClientCRL: []string{j("crl.pem")}}
}

func touch(t *testing.T, paths ...string) {
	t.Helper()
	later := time.Now().Add(time.Minute)
	for _, p := range paths {
		os.Chtimes(p, later, later)
	}
}

// TestRotationAndRevocationWithoutRestart: a new certificate pair and a new CRL in the
// files are picked up at the next poll: new handshakes see the new certificate, an open
// keep-alive connection goes on, a newly revoked department is refused at its next
// handshake, and a malformed certificate is refused with the running one kept.
func TestRotationAndRevocationWithoutRestart(t *testing.T) {
	ca, err := certs.NewRootCA("test root", "govgate", 2*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pkiFiles{dir: t.TempDir(), ca: ca}
	os.WriteFile(filepath.Join(p.dir, "ca.pem"), crypto.MarshalCertificatePEM(ca.Cert), 0o644)
	first, _ := ca.IssuePair(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	p.writePair(t, first)
	p.writeCRL(t, 1)
	src, err := tlcp.NewSource(context.Background(), p.files(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.TLCP = TLCP{SignCert: "x", SignKey: "x", EncCert: "x", EncKey: "x", ClientCA: "x"}
	cfg.ApplyDefaults()
	cs := &certs.Lister{Holders: []certs.CertificateHolder{src}}
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000),
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: src.Identity, Trust: src.Trust}},
		Admin:        []AdminHandler{assemble.CertsEndpoint(cs)}, Metrics: []prometheus.Collector{cs.Collector()},
	}})
	addr := gw.ListenerAddr("ext").String()
	base := "https://" + addr
	dept, _ := ca.IssuePair(certs.PairRequest{Dept: "110000-rensheju", System: "s"})
	other, _ := ca.IssuePair(certs.PairRequest{Dept: "110000-shuiwu", System: "t"})
	serverSerial := func(pair *certs.Pair) (string, error) {
		conn, err := tlcp.Dial(context.Background(), "tcp", addr, tlcp.ClientConfig{Identity: tlcpIdentity(pair), Trust: src.Trust, ServerName: "localhost"})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.Peer().SerialHex, nil
	}
	kept, err := client.New(client.Config{Identity: tlcpIdentity(dept), Trust: src.Trust, ServerName: "localhost", Unsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	get := func(c *client.Client) int {
		resp, err := c.Do(context.Background(), client.Request{URL: base + "/population/v1/persons"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	if get(kept) != 200 {
		t.Fatal("first request refused")
	}
	if s, err := serverSerial(dept); err != nil || s != first.SignCert.SerialNumber.Text(16) {
		t.Fatalf("before rotation the server shows %s: %v", s, err)
	}

	// Rotate the gateway's pair.
	second, _ := ca.IssuePair(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	p.writePair(t, second)
	touch(t, p.files().SignCert, p.files().SignKey, p.files().EncCert, p.files().EncKey)
	src.Poll(context.Background())
	if s, err := serverSerial(dept); err != nil || s != second.SignCert.SerialNumber.Text(16) {
		t.Errorf("after rotation a new handshake shows %s, want %s: %v", s, second.SignCert.SerialNumber.Text(16), err)
	}
	if get(kept) != 200 {
		t.Error("the open keep-alive connection broke on rotation")
	}

	// Revoke the other department: its next handshake is refused, ours goes on.
	if _, err := serverSerial(other); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	p.writeCRL(t, 2, other.SignCert.SerialNumber)
	src.Poll(context.Background())
	if _, err := serverSerial(other); err == nil {
		t.Error("a revoked department completed a handshake")
	}
	if _, err := serverSerial(dept); err != nil {
		t.Errorf("an unrevoked department was refused: %v", err)
	}

	// A malformed certificate is refused; the running pair stays.
	os.WriteFile(p.files().SignCert, []byte("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"), 0o644)
	touch(t, p.files().SignCert)
	src.Poll(context.Background())
	if src.Refused() != 1 {
		t.Errorf("refused %d reloads, want 1", src.Refused())
	}
	if s, err := serverSerial(dept); err != nil || s != second.SignCert.SerialNumber.Text(16) {
		t.Errorf("after a malformed certificate the server shows %s: %v", s, err)
	}
	// GET /certs and the metrics show what is in use.
	admin := "http://" + gw.AdminAddr().String()
	serial := second.SignCert.SerialNumber.Text(16)
	if status, _, body := do(t, "GET", admin+"/certs", "", nil); status != 200 || !strings.Contains(string(body), serial) || !strings.Contains(string(body), `"days_left"`) {
		t.Errorf("GET /certs: %d %s", status, body)
	}
	_, _, metrics := do(t, "GET", admin+"/metrics", "", nil)
	if !strings.Contains(string(metrics), `govgate_cert_days_to_expiry{role="tlcp-sign",serial="`+serial+`"} 364`) || !strings.Contains(string(metrics), "govgate_cert_reloads_refused_total 1") {
		t.Errorf("metrics lack the certificates:\n%s", metrics)
	}
}
