package tlcp

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
)

// acceptableCAs completes a handshake with id and returns the certificate_authorities list
// of the server's CertificateRequest, as the client received it.
func acceptableCAs(t *testing.T, addr string, id *Identity, trust *TrustSource) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got [][]byte
	seen := false
	c, err := dial(ctx, "tcp", addr, ClientConfig{Identity: id, Trust: trust, ServerName: "localhost", Logger: quietLogger(),
		certificateRequest: func(cas [][]byte) { seen = true; got = cas }})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := request(c); err != nil {
		t.Fatalf("request: %v", err)
	}
	if !seen {
		t.Fatal("the server sent no CertificateRequest")
	}
	return got
}

func subjects(cas ...*smx509.Certificate) [][]byte {
	var out [][]byte
	for _, c := range cas {
		out = append(out, c.RawSubject)
	}
	return out
}

func sameNames(got, want [][]byte) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return false
		}
	}
	return true
}

func names(list [][]byte) []string {
	var out []string
	for _, der := range list {
		var rdn pkix.RDNSequence
		if _, err := asn1.Unmarshal(der, &rdn); err != nil {
			out = append(out, fmt.Sprintf("unparsable %x", der))
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&rdn)
		out = append(out, n.String())
	}
	return out
}

// The CertificateRequest names the trust store's CAs (GmSSL's client aborts on an empty
// list), and names the new ones once the trust store is replaced.
func TestCertificateRequestNamesClientCAs(t *testing.T) {
	p := newTestPKI(t)
	second, err := certs.NewRootCA("govgate second root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A CA listed twice (as a reload may) is named once.
	ts, err := NewTrustStore([]*smx509.Certificate{p.ca.Cert, second.Cert, p.ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.trust.Store(ts)
	clientTrust := &TrustSource{} // the client's view of the server: the first root
	clientTrust.Store(ts)
	addr, _, _ := startServer(t, p)

	want := subjects(p.ca.Cert, second.Cert)
	if got := acceptableCAs(t, addr, p.client, clientTrust); !sameNames(got, want) {
		t.Fatalf("CertificateRequest lists %q, want %q", names(got), names(want))
	}

	// Rotation: a new CA set, and a client issued by one of the new CAs.
	third, err := certs.NewRootCA("govgate third root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fourth, err := certs.NewRootCA("govgate fourth root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := fourth.IssuePair(certs.PairRequest{Dept: "110000-gongan", System: "rotated"})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewTrustStore([]*smx509.Certificate{third.Cert, fourth.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.trust.Store(rotated)
	want = subjects(third.Cert, fourth.Cert)
	if got := acceptableCAs(t, addr, identity(pair), clientTrust); !sameNames(got, want) {
		t.Fatalf("after rotation the CertificateRequest lists %q, want %q", names(got), names(want))
	}
	// Verification is unchanged: the old CA's client is refused now.
	if _, err := get(t, addr, p.client, clientTrust); err == nil {
		t.Error("a client of a CA no longer trusted was served")
	}
}

// A trust store of many CAs gives a CertificateRequest longer than one record: it is sent
// whole and the handshake completes.
func TestCertificateRequestManyCAs(t *testing.T) {
	p := newTestPKI(t)
	cas := []*smx509.Certificate{p.ca.Cert}
	for i := range 400 {
		cas = append(cas, fakeCA(t, fmt.Sprintf("govgate provincial CA %03d with a long enough name to take some room", i)))
	}
	ts := &TrustStore{Roots: smx509.NewCertPool(), CAs: cas, Revoked: map[string]bool{}}
	ts.Roots.AddCert(p.ca.Cert)
	p.trust.Store(ts)
	addr, _, _ := startServer(t, p)

	got := acceptableCAs(t, addr, p.client, p.trust)
	if want := subjects(cas...); !sameNames(got, want) {
		t.Fatalf("CertificateRequest lists %d names, want the %d configured", len(got), len(want))
	}
	size := 0
	for _, n := range got {
		size += 2 + len(n)
	}
	if size <= 16384 {
		t.Fatalf("the list is %d bytes: the test wants one longer than a record", size)
	}
}

// fakeCA is a certificate with only a subject: enough for the listing.
func fakeCA(t testing.TB, cn string) *smx509.Certificate {
	der, err := asn1.Marshal(pkix.Name{CommonName: cn, Organization: []string{"govgate"}, Country: []string{"CN"}}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	return &smx509.Certificate{RawSubject: der}
}

// Names that would overflow the list's 16-bit length (and the 64 KiB handshake message)
// are left out, never wrapped around.
func TestCANamesBounded(t *testing.T) {
	ts := &TrustStore{}
	for i := range 1000 {
		ts.CAs = append(ts.CAs, fakeCA(t, fmt.Sprintf("CA %04d %s", i, bytes.Repeat([]byte("x"), 60))))
	}
	got, dropped := caNames(ts)
	size := 0
	for _, n := range got {
		size += 2 + len(n)
	}
	if dropped == 0 || len(got)+dropped != 1000 || size > maxCANamesLen {
		t.Fatalf("listed %d (%d bytes), dropped %d", len(got), size, dropped)
	}
	if !sameNames(got, subjects(ts.CAs[:len(got)]...)) {
		t.Error("the listed names are not the first of the store, in order")
	}
}
