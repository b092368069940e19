package tlcp

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/govgate/govgate/certs"
)

// TestHandshakeFailureReasons: every refused or broken handshake is reported to the
// listener's observer with its reason and, when the client sent one, its certificate.
func TestHandshakeFailureReasons(t *testing.T) {
	p := newTestPKI(t)
	addr, _, ln := startServer(t, p)
	var mu sync.Mutex
	got := map[string][]HandshakeFailure{}
	ln.OnHandshakeFailure(func(f HandshakeFailure) {
		mu.Lock()
		got[f.Reason] = append(got[f.Reason], f)
		mu.Unlock()
	})

	foreign, expired, revoked, ts := p.refusedClients(t)
	clientTrust := &TrustSource{}
	clientTrust.Store(ts)
	// A certificate the client holds without its key: CertificateVerify cannot verify.
	wrongKey := identity(&certs.Pair{SignCert: p.client.SignCert, SignKey: revoked.SignKey, EncCert: p.client.EncCert, EncKey: p.client.EncKey})
	swapped := identity(&certs.Pair{SignCert: p.client.EncCert, SignKey: p.client.EncKey, EncCert: p.client.SignCert, EncKey: p.client.SignKey})

	want := map[string]*certs.Pair{ReasonUntrusted: foreign, ReasonExpired: expired, ReasonRevoked: revoked}
	for reason, pair := range want {
		if _, err := dialUnchecked(t, addr, identity(pair), clientTrust); err == nil {
			t.Errorf("%s: accepted", reason)
		}
	}
	for _, id := range []*Identity{wrongKey, swapped} {
		if _, err := dialUnchecked(t, addr, id, clientTrust); err == nil {
			t.Error("accepted")
		}
	}
	if _, err := dialUnchecked(t, addr, nil, clientTrust); err == nil {
		t.Error("no certificate: accepted")
	}
	raw := func(send string, wait bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, send)
		if wait {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
		}
	}
	raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true) // not TLCP
	raw("", false)                                 // connects and goes away
	raw("", true)                                  // connects and says nothing until the handshake timeout

	reasons := []string{ReasonUntrusted, ReasonExpired, ReasonRevoked, ReasonBadSignature, ReasonBadCertificate,
		ReasonNoCertificate, ReasonProtocol, ReasonClosed, ReasonTimeout}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		missing := ""
		for _, r := range reasons {
			if len(got[r]) == 0 {
				missing = r
				break
			}
		}
		mu.Unlock()
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure reported with reason %s; reported: %v", missing, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for reason, pair := range want {
		f := got[reason][0]
		if f.Cert == nil || f.Cert.SerialNumber.Cmp(pair.SignCert.SerialNumber) != 0 || f.Remote == nil {
			t.Errorf("%s: reported certificate %v from %v, want the client's signing certificate", reason, f.Cert, f.Remote)
		}
	}
	if f := got[ReasonBadSignature][0]; f.Cert == nil || f.Cert.SerialNumber.Cmp(p.client.SignCert.SerialNumber) != 0 {
		t.Errorf("a CertificateVerify that does not verify is reported with certificate %v, want the one presented", f.Cert)
	}
	if n := len(got[ReasonProtocol]) + len(got[ReasonPanic]); n != 1 {
		t.Errorf("%d protocol failures, want 1: %v", n, got)
	}
}
