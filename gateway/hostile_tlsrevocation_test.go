package gateway_test

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/govgate/govgate/internal/testpki"
)

// TestRevocationReachesOpenTLSConnections: on a standard mutual-TLS listener too, a
// department revoked while its keep-alive connection is open is refused at its next
// request (401 certificate_revoked, audited) and the connection is closed after that
// answer; another department's open connection goes on. A CA set that no longer holds
// the issuer refuses it as certificate_untrusted.
func TestRevocationReachesOpenTLSConnections(t *testing.T) {
	p := testpki.NewEC(t)
	tr, gw, up, rec := startTLSGateway(t, p, func(a *identity.PeerAuthenticator, tr *certs.TLSTransport) { a.TLSTrust = tr })
	roots := x509.NewCertPool()
	roots.AddCert(p.CA)
	addr := gw.ListenerAddr("ext").String()
	open := func(cert tls.Certificate) *rawConn {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return &rawConn{Conn: c, r: bufio.NewReader(c)}
	}
	const get = "GET /population/v1/persons HTTP/1.1\r\nHost: localhost\r\n\r\n"
	dept, deptCert := p.Issue(t, "pension-review", "110000-rensheju", false)
	other, _ := p.Issue(t, "tax-sync", "110000-shuiwu", false)
	victim, bystander := open(dept), open(other)
	for name, c := range map[string]*rawConn{"revoked-to-be": victim, "bystander": bystander} {
		if resp, body := c.roundTrip(t, get); resp.StatusCode != 200 {
			t.Fatalf("%s before revocation: %d %s", name, resp.StatusCode, body)
		}
	}
	hits := up.hits.Load()

	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: deptCert.SerialNumber, RevocationTime: time.Now()}}}, p.CA, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(t, "crl.pem", "X509 CRL", crl, 0o644) // over the empty one the transport loaded
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}

	resp, body := victim.roundTrip(t, get)
	if resp.StatusCode != 401 || errorCode(t, body) != "certificate_revoked" {
		t.Fatalf("revoked department on its open connection: %d %s", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Error("the refused connection was not closed after the answer")
	}
	if _, err := io.WriteString(victim, get); err == nil {
		victim.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := http.ReadResponse(victim.r, nil); err == nil {
			t.Error("the revoked connection answered another request")
		}
	}
	if last := rec.last(); last.status != 401 || last.code != "certificate_revoked" {
		t.Errorf("refusal not audited as such: %+v", last)
	}
	if resp, body := bystander.roundTrip(t, get); resp.StatusCode != 200 {
		t.Errorf("another department's open connection: %d %s", resp.StatusCode, body)
	}
	if up.hits.Load() != hits+1 {
		t.Errorf("provider saw %d requests after the revocation, want 1 (the bystander's)", up.hits.Load()-hits)
	}

	// A CA set without the issuer: the bystander's open connection is refused too.
	stranger := testpki.NewEC(t)
	p.Write(t, "ca.pem", "CERTIFICATE", stranger.CA.Raw, 0o644)
	stranger.Dir = p.Dir
	stranger.CRL(t) // the CRL must be the new CA's
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, body = bystander.roundTrip(t, get)
	if resp.StatusCode != 401 || !strings.Contains(string(body), "certificate_untrusted") {
		t.Errorf("untrusted issuer on an open connection: %d %s", resp.StatusCode, body)
	}
}
