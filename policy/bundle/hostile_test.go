package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestFutureSignatureRefused: a signature dated ahead of the gateway's clock (an officer's
// clock far off, or a stolen officer key dating its bundle years ahead) would become the
// rollback floor, and every later bundle, correctly dated, would be refused as "older"
// until that date, revocation of the key notwithstanding. A gateway refuses a signed_at
// beyond the tolerated clock skew, and accepts one within it.
func TestFutureSignatureRefused(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	good := bundletest.Build(t, "good")
	srv.Publish(t, good, officer.Sign(t, good))
	gw := startGateway(t, srv.URL, verifier(t, pki, ""), time.Hour)

	ahead := bundletest.Build(t, "ahead")
	sig, err := bundle.Sign(ahead, officer.Key, []*crypto.Certificate{officer.Cert}, bundletest.Audience, time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(t, ahead, sig)
	if changed, err := gw.poller.Poll(t.Context()); err == nil || changed || !strings.Contains(err.Error(), "signed_at") {
		t.Fatalf("a bundle signed a year ahead: changed=%v err=%v; want refused", changed, err)
	}

	// The next bundle, correctly dated, goes through: no floor was moved.
	next := bundletest.Build(t, "next")
	srv.Publish(t, next, officer.Sign(t, next))
	if changed, err := gw.poller.Poll(t.Context()); err != nil || !changed {
		t.Fatalf("the correctly dated bundle after: changed=%v err=%v", changed, err)
	}

	// Within the tolerated skew a signer's clock slightly ahead is no fault.
	slight := bundletest.Build(t, "slightly ahead")
	sig, err = bundle.Sign(slight, officer.Key, []*crypto.Certificate{officer.Cert}, bundletest.Audience, time.Now().Add(bundle.MaxClockSkew/2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier(t, pki, "").Verify(slight, sig, time.Now()); err != nil {
		t.Fatalf("a signature %s ahead: %v", bundle.MaxClockSkew/2, err)
	}
}

// TestChainThroughANonCA: an officer's own certificate (no CA rights) used as the issuer
// of a second "officer" certificate is refused, though both carry the role.
func TestChainThroughANonCA(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	uri := officer.Cert.URIs
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(99),
		Subject:      officer.Cert.Subject,
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: smx509.KeyUsageDigitalSignature, URIs: uri,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, officer.Cert, &key.PublicKey, officer.Key)
	if err != nil {
		t.Fatal(err)
	}
	child, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	b := bundletest.Build(t, "child")
	sig, err := bundle.Sign(b, key, []*crypto.Certificate{child, officer.Cert}, bundletest.Audience, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier(t, pki, "").Verify(b, sig, time.Now()); err == nil {
		t.Fatal("a chain through an officer's certificate (no CA rights) verified")
	}
	if !strings.HasPrefix(uri[0].String(), certs.RoleURIPrefix) && !strings.HasPrefix(uri[len(uri)-1].String(), certs.RoleURIPrefix) {
		t.Fatalf("the officer's URIs %v carry no role: the test proves nothing", uri)
	}
}

// tarEntry is one member of a hand-made bundle.
type tarEntry struct {
	name     string
	typ      byte
	body     string
	linkname string
}

func tarball(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.linkname}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	gz.Close()
	return buf.Bytes()
}

// TestReadHostileTarballs: what an officer's mistaken (or a stolen key's) tarball may hold
// beyond Build's layout is refused or ignored, never read from outside the bundle.
func TestReadHostileTarballs(t *testing.T) {
	const manifest = `{"revision": "x", "roots": [""]}`
	const mod = "package govgate.authz\n\ndecision := {\"allow\": false}\n"
	refused := map[string][]tarEntry{
		"a path climbing out":   {{name: "/.manifest", body: manifest}, {name: "/../x.rego", body: mod}},
		"a .rego twice":         {{name: "/.manifest", body: manifest}, {name: "/a.rego", body: mod}, {name: "a.rego", body: mod}},
		"data.json twice":       {{name: "/.manifest", body: manifest}, {name: "/a.rego", body: mod}, {name: "/data.json", body: `{}`}, {name: "./data.json", body: `{}`}},
		"roots narrowed":        {{name: "/.manifest", body: `{"roots": ["govgate"]}`}, {name: "/a.rego", body: mod}},
		"roots twice":           {{name: "/.manifest", body: `{"roots": ["", ""]}`}, {name: "/a.rego", body: mod}},
		"two manifests":         {{name: "/.manifest", body: manifest}, {name: "/x/.manifest", body: manifest}, {name: "/a.rego", body: mod}},
		"a hidden module":       {{name: "/.manifest", body: manifest}, {name: "/.hidden/a.rego", body: mod}},
		"only links, no module": {{name: "/.manifest", body: manifest}, {name: "/a.rego", typ: tar.TypeSymlink, linkname: "/etc/passwd"}, {name: "/b.rego", typ: tar.TypeLink, linkname: "/etc/passwd"}},
		"an entry past the size limit": {{name: "/.manifest", body: manifest}, {name: "/a.rego", body: mod},
			{name: "/data.json", body: strings.Repeat(" ", bundle.MaxBundleSize+1)}},
	}
	for name, entries := range refused {
		t.Run(name, func(t *testing.T) {
			if l, err := bundle.Read(tarball(t, entries...)); err == nil {
				t.Fatalf("read: %d modules %v, data %v; want refused", len(l.Files.Modules), keys(l.Files.Modules), keys(l.Files.Data))
			}
		})
	}

	// A symlink beside a real module is skipped, not followed: nothing of /etc is read.
	l, err := bundle.Read(tarball(t, tarEntry{name: "/.manifest", body: manifest}, tarEntry{name: "/a.rego", body: mod},
		tarEntry{name: "/data.json", typ: tar.TypeSymlink, linkname: "/etc/passwd"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Files.Data) != 0 || len(l.Files.Modules) != 1 {
		t.Fatalf("a symlink was read: data %v", keys(l.Files.Data))
	}

	// data.json placing an "allow" where the decision rule is: the rule decides, the data
	// does not override data.govgate.authz.decision (an unknown department stays denied).
	files := bundletest.Files(t, "")
	files.Data["govgate/authz/data.json"] = []byte(`{"decision": {"allow": true, "reasons": []}}`)
	rev, err := policy.Compile(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rev.Evaluate(t.Context(), &policy.Input{
		Subject:  policy.Subject{Dept: "999999-nobody", System: "x", CertSerial: "1", Auth: "tlcp", Signed: true},
		Request:  policy.Request{Method: "GET", Path: "/tax/v1/taxpayers", Purpose: "social-insurance-check", Agreement: "AGR-2026-0042"},
		Route:    policy.Route{ID: "tax-query", Mode: "query", SourceZone: "external", TargetZone: "internal"},
		Resource: "tax.registration",
		Time:     time.Date(2026, 11, 29, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || len(d.Reasons) == 0 {
		t.Fatalf("data overrode the decision rule: %+v", d)
	}
}

// TestRollbackWithinOneSecond: two bundles signed within the same second (a script that
// builds and signs twice, a fix re-signed at once) are still ordered: the earlier one
// replayed after the later is refused.
func TestRollbackWithinOneSecond(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	at := time.Now().Truncate(time.Second)
	first, second := bundletest.Build(t, "first"), bundletest.Build(t, "second")
	firstSig, err := bundle.Sign(first, officer.Key, []*crypto.Certificate{officer.Cert}, bundletest.Audience, at.Add(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	secondSig, err := bundle.Sign(second, officer.Key, []*crypto.Certificate{officer.Cert}, bundletest.Audience, at.Add(600*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(t, second, secondSig)
	gw := startGateway(t, srv.URL, verifier(t, pki, ""), time.Hour)
	srv.Publish(t, first, firstSig)
	if changed, err := gw.poller.Poll(t.Context()); err == nil || changed {
		t.Fatalf("the bundle signed 500 ms before the current one: changed=%v err=%v; want refused", changed, err)
	}
}

// TestPinnedOfficerMintsNobody: an operator who "pins" an officer by listing the officer's
// own certificate as signers_ca does not make that officer a CA: a certificate the
// officer's key issues (another name, the role in its SAN) does not verify.
func TestPinnedOfficerMintsNobody(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	pinned := filepath.Join(t.TempDir(), "officer.pem")
	if err := os.WriteFile(pinned, crypto.MarshalCertificatePEM(officer.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := bundle.NewVerifier([]string{pinned}, "", bundletest.Audience)
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "someone else"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: smx509.KeyUsageDigitalSignature, URIs: officer.Cert.URIs,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, officer.Cert, &key.PublicKey, officer.Key)
	if err != nil {
		t.Fatal(err)
	}
	minted, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	b := bundletest.Build(t, "minted")
	sig, err := bundle.Sign(b, key, []*crypto.Certificate{minted}, bundletest.Audience, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s, err := v.Verify(b, sig, time.Now()); err == nil {
		t.Fatalf("a certificate minted by a pinned officer verified: %+v", s)
	}
	// The pinned officer's own signature does.
	if _, err := v.Verify(b, officer.Sign(t, b), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// etagRewriter is a bundle server's path in hostile hands for a moment: while on, it
// serves what the server serves under the ETag it chooses.
type etagRewriter struct {
	h    http.Handler
	etag atomic.Pointer[string]
}

func (e *etagRewriter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if tag := e.etag.Load(); tag != nil && !strings.HasSuffix(r.URL.Path, bundle.SignatureSuffix) {
		r.Header.Del("If-None-Match")
		w = &etagWriter{ResponseWriter: w, etag: *tag}
	}
	e.h.ServeHTTP(w, r)
}

type etagWriter struct {
	http.ResponseWriter
	etag string
}

func (w *etagWriter) WriteHeader(s int) {
	w.Header().Set("ETag", w.etag)
	w.ResponseWriter.WriteHeader(s)
}

// TestETagWildcardDoesNotFreezeThePoller: a man in the middle (or the server, once) replays
// the current, validly signed bundle under the ETag "*". Sent back as If-None-Match: *, it
// matches every representation: an honest server then answers 304 to every poll, and the
// gateway never takes a new bundle. A poller keeps only an ETag that names one
// representation.
func TestETagWildcardDoesNotFreezeThePoller(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	dir := t.TempDir()
	rw := &etagRewriter{h: &bundle.Server{Dir: dir}}
	hs := httptest.NewServer(rw)
	defer hs.Close()
	one := bundletest.Build(t, "one")
	if err := bundle.Publish(dir, "bundle.tar.gz", one, officer.Sign(t, one)); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, hs.URL+"/bundle.tar.gz", verifier(t, pki, ""), time.Hour)

	for _, tag := range []string{`*`, `"a", *`, `W/"x", *`} {
		star := tag
		rw.etag.Store(&star)
		if _, err := gw.poller.Poll(t.Context()); err != nil { // the same bundle: accepted
			t.Fatal(err)
		}
		rw.etag.Store(nil)
		next := bundletest.Build(t, "after "+tag)
		if err := bundle.Publish(dir, "bundle.tar.gz", next, officer.Sign(t, next)); err != nil {
			t.Fatal(err)
		}
		if changed, err := gw.poller.Poll(t.Context()); err != nil || !changed {
			t.Fatalf("ETag %s: the next bundle not taken: changed=%v err=%v", tag, changed, err)
		}
	}
}
