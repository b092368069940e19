package bundle_test

import (
	"context"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// gateway is one engine fed by one poller, as a gateway of the fleet runs them.
type gateway struct {
	poller *bundle.Poller
	engine *policy.Engine
}

func startGateway(t *testing.T, url string, v *bundle.Verifier, interval time.Duration) *gateway {
	t.Helper()
	ctx := t.Context()
	p, err := bundle.NewPoller(bundle.PollerOptions{URL: url, Interval: interval, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(ctx); err != nil {
		t.Fatalf("first poll: %v", err)
	}
	e, err := policy.New(ctx, policy.Options{Files: p.Files, SourceName: url})
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{poller: p, engine: e}
}

func verifier(t *testing.T, pki *bundletest.PKI, crl string) *bundle.Verifier {
	t.Helper()
	v, err := bundle.NewVerifier([]string{pki.CAFile}, crl, bundletest.Audience)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// revisionOf is the engine's revision ID of the bundle built with marker.
func revisionOf(t *testing.T, marker string) string {
	t.Helper()
	l, err := bundle.Read(bundletest.Build(t, marker))
	if err != nil {
		t.Fatal(err)
	}
	return l.Files.ID()
}

func TestBuildReadKeepsTheRevision(t *testing.T) {
	files := bundletest.Files(t, "r1")
	b, err := bundle.Build(files, "r1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := bundle.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if l.Revision != "r1" {
		t.Fatalf("manifest revision %q, want r1", l.Revision)
	}
	if len(l.Files.Modules) != len(files.Modules) {
		t.Fatalf("%d modules, want %d", len(l.Files.Modules), len(files.Modules))
	}
	for p, m := range files.Modules {
		if string(l.Files.Modules[p]) != string(m) {
			t.Fatalf("module %s changed in the bundle", p)
		}
	}
	if _, ok := l.Files.Data["data.json"]; !ok || len(l.Files.Data) != 1 {
		t.Fatalf("data files %v, want one data.json", keys(l.Files.Data))
	}
	// The bundle compiles and its tests pass, as the directory's did.
	rev, err := policy.Compile(t.Context(), l.Files)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := policy.RunTests(t.Context(), l.Files, false)
	if err != nil || !tests.OK() {
		t.Fatalf("tests of the bundle: %v %v", err, tests)
	}
	// The same files build the same revision ID, whichever gateway reads them.
	again, _ := bundle.Read(b)
	if again.Files.ID() != rev.ID {
		t.Fatal("two reads of one bundle give two revision IDs")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRefusedBundlesKeepTheOldRevision publishes, after a good revision, every bundle a
// hostile or careless publisher could: each is refused before it is compiled and the old
// revision keeps serving.
func TestRefusedBundlesKeepTheOldRevision(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	auditor := pki.Issue(t, "auditor", "sec", "auditor")
	revoked := pki.Officer(t)
	rogue := bundletest.NewPKI(t, "rogue root").Officer(t)
	crl := pki.WriteCRL(t, revoked.Cert.SerialNumber, big.NewInt(12345))

	srv := bundletest.NewServer(t)
	good := bundletest.Build(t, "good")
	srv.Publish(t, good, officer.Sign(t, good))
	gw := startGateway(t, srv.URL, verifier(t, pki, crl), time.Hour)
	goodID := revisionOf(t, "good")
	if got := gw.engine.Revision().ID; got != goodID {
		t.Fatalf("live %s, want %s", got, goodID)
	}

	bad := bundletest.Build(t, "bad")
	tampered := func() []byte {
		b := bundletest.Build(t, "tampered")
		sig := officer.Sign(t, b)
		b2 := append([]byte{}, b...)
		b2[len(b2)/2] ^= 1
		srv.Publish(t, b2, sig)
		return nil
	}
	cases := []struct {
		name    string
		publish func()
		want    string
	}{
		{"signed by a non-officer", func() { srv.Publish(t, bad, auditor.Sign(t, bad)) }, "is not a security-officer"},
		{"tampered after signing", func() { tampered() }, "digest is not the bundle's"},
		{"unsigned", func() { srv.Publish(t, bad, nil) }, "signature"},
		{"signer from an untrusted CA", func() { srv.Publish(t, bad, rogue.Sign(t, bad)) }, "unknown authority"},
		{"revoked signer", func() { srv.Publish(t, bad, revoked.Sign(t, bad)) }, "is revoked"},
		{"signature of another bundle", func() { srv.Publish(t, bad, officer.Sign(t, good)) }, "digest is not the bundle's"},
		{"garbage signature", func() { srv.Publish(t, bad, []byte(`{"format":"x"}`)) }, "format"},
		{"an older signed bundle (rollback)", func() {
			old, err := bundle.Sign(bad, officer.Key, []*crypto.Certificate{officer.Cert}, bundletest.Audience, time.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			srv.Publish(t, bad, old)
		}, "before the current bundle"},
		{"oversized signature", func() { srv.Publish(t, bad, []byte(strings.Repeat(" ", bundle.MaxSignatureSize+1))) }, "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.publish()
			changed, err := gw.poller.Poll(t.Context())
			if err == nil || changed {
				t.Fatalf("poll: changed=%v err=%v; want refused", changed, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			// The engine still reads the good files, even when reloaded on demand.
			if _, _, err := gw.engine.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := gw.engine.Revision().ID; got != goodID {
				t.Fatalf("live %s after a refused bundle, want %s", got, goodID)
			}
			st := gw.poller.Status(gw.engine.Revision().ID)
			if st.Revision != "good" || st.Signer == nil || st.Signer.Serial != officer.Cert.SerialNumber.Text(16) || st.LastError == "" {
				t.Fatalf("status %+v: want the good bundle's signer and the refusal", st)
			}
		})
	}
}

// TestFailingTestsKeepTheOldRevision: a correctly signed bundle whose Rego tests fail is
// verified but never made live; /policy names it pending.
func TestFailingTestsKeepTheOldRevision(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	good := bundletest.Build(t, "good")
	srv.Publish(t, good, officer.Sign(t, good))
	gw := startGateway(t, srv.URL, verifier(t, pki, ""), time.Hour)

	files := bundletest.Files(t, "")
	for p := range files.Modules {
		if strings.HasSuffix(p, "authz_test.rego") {
			files.Modules[p] = append(files.Modules[p], "\ntest_broken if { false }\n"...)
		}
	}
	broken, err := bundle.Build(files, "broken")
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(t, broken, officer.Sign(t, broken))
	changed, err := gw.poller.Poll(t.Context())
	if err != nil || !changed {
		t.Fatalf("poll: %v %v", changed, err)
	}
	if _, _, err := gw.engine.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "tests failed") {
		t.Fatalf("reload of a bundle with failing tests: %v", err)
	}
	if got := gw.engine.Revision().ID; got != revisionOf(t, "good") {
		t.Fatal("a bundle whose tests fail went live")
	}
	st := gw.poller.Status(gw.engine.Revision().ID)
	if st.Revision != "good" || st.Pending != "broken" {
		t.Fatalf("status %+v: want live good, pending broken", st)
	}
}

// countingServer counts the bundle server's answers by status.
type countingServer struct {
	h               http.Handler
	ok, notModified atomic.Int64
}

func (c *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	c.h.ServeHTTP(rec, r)
	if strings.HasSuffix(r.URL.Path, bundle.SignatureSuffix) {
		return
	}
	switch rec.status {
	case http.StatusOK:
		c.ok.Add(1)
	case http.StatusNotModified:
		c.notModified.Add(1)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// TestETagNotModified: the second poll of an unchanged bundle is a 304 and compiles
// nothing.
func TestETagNotModified(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	dir := t.TempDir()
	cs := &countingServer{h: &bundle.Server{Dir: dir}}
	hs := httptest.NewServer(cs)
	defer hs.Close()
	b := bundletest.Build(t, "one")
	if err := bundle.Publish(dir, "bundle.tar.gz", b, officer.Sign(t, b)); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, hs.URL+"/bundle.tar.gz", verifier(t, pki, ""), time.Hour)
	reloads := gw.engine.Status().Reloads
	changed, err := gw.poller.Poll(t.Context())
	if err != nil || changed {
		t.Fatalf("second poll: changed=%v err=%v", changed, err)
	}
	if cs.ok.Load() != 1 || cs.notModified.Load() != 1 {
		t.Fatalf("server answered %d×200 and %d×304; want 1 and 1", cs.ok.Load(), cs.notModified.Load())
	}
	if st := gw.poller.Status(gw.engine.Revision().ID); st.NotModified != 1 || st.Fetches != 1 || st.ETag == "" {
		t.Fatalf("poller status %+v", st)
	}
	if got := gw.engine.Status().Reloads; got != reloads {
		t.Fatalf("reloads %d → %d after a 304", reloads, got)
	}
}

// TestNewBundleLiveOnTwoGateways publishes one bundle and watches two gateways' pollers
// make it live.
func TestNewBundleLiveOnTwoGateways(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	b1 := bundletest.Build(t, "one")
	srv.Publish(t, b1, officer.Sign(t, b1))
	const interval = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var gws []*gateway
	for range 2 {
		gw := startGateway(t, srv.URL, verifier(t, pki, ""), interval)
		go gw.poller.Run(ctx, func(ctx context.Context) error { _, _, err := gw.engine.Reload(ctx); return err })
		gws = append(gws, gw)
	}
	b2 := bundletest.Build(t, "two")
	srv.Publish(t, b2, officer.Sign(t, b2))
	want := revisionOf(t, "two")
	// Polls come every interval ± 10%; a compile and the tests take a few hundred ms on
	// this machine. The deadline is generous; what is asserted is that both go live.
	deadline := time.Now().Add(200 * interval)
	for _, gw := range gws {
		for gw.engine.Revision().ID != want {
			if time.Now().After(deadline) {
				t.Fatalf("revision %s not live after %s; status %+v", want, 200*interval, gw.engine.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st := gw.poller.Status(want); st.Revision != "two" || st.Signer == nil {
			t.Fatalf("status %+v", st)
		}
	}
}

func TestVerifierNeedsACA(t *testing.T) {
	if _, err := bundle.NewVerifier(nil, "", bundletest.Audience); err == nil {
		t.Fatal("a verifier without CAs was made")
	}
	pki := bundletest.NewPKI(t, "signers root")
	other := bundletest.NewPKI(t, "other root")
	// A CRL from a CA that is not trusted is a configuration error, refused at start.
	if _, err := bundle.NewVerifier([]string{pki.CAFile}, other.WriteCRL(t), bundletest.Audience); err == nil {
		t.Fatal("a CRL signed by an untrusted CA was accepted")
	}
}

// TestVerifyAtTime: a signer certificate past its validity is refused, and so is any
// signer once the configured CRL is past its next update (a stale list vouches for no one).
func TestVerifyAtTime(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t) // valid 12 h
	b := bundletest.Build(t, "t")
	sig := officer.Sign(t, b)
	v := verifier(t, pki, "")
	if _, err := v.Verify(b, sig, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(b, sig, time.Now().Add(13*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired signer: %v", err)
	}
	withCRL := verifier(t, pki, pki.WriteCRL(t)) // next update in 1 h
	if _, err := withCRL.Verify(b, sig, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := withCRL.Verify(b, sig, time.Now().Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "CRL") {
		t.Fatalf("a stale CRL: %v", err)
	}
}

// TestPersistedBundle: a restarted poller with the bundle server down starts on the bundle
// it kept (verified again); with the server back, an older signed bundle is still refused.
func TestPersistedBundle(t *testing.T) {
	pki := bundletest.NewPKI(t, "signers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	oldB := bundletest.Build(t, "old")
	oldSig, err := bundle.Sign(oldB, officer.Key, []*crypto.Certificate{officer.Cert}, bundletest.Audience, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	newB := bundletest.Build(t, "new")
	srv.Publish(t, newB, officer.Sign(t, newB))
	keep := t.TempDir()
	opts := bundle.PollerOptions{URL: srv.URL, Interval: time.Hour, Verifier: verifier(t, pki, ""), PersistDir: keep}
	p1, _ := bundle.NewPoller(opts)
	if _, err := p1.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Only the live revision is kept: another ID persists nothing.
	if err := p1.Persist("not the live one"); err != nil {
		t.Fatal(err)
	}
	if p0, err := bundle.NewPoller(opts); err != nil {
		t.Fatal(err)
	} else if loaded, _ := p0.LoadPersisted(); loaded {
		t.Fatal("a bundle that is not live was kept")
	}
	if err := p1.Persist(revisionOf(t, "new")); err != nil {
		t.Fatal(err)
	}

	// Restart with the server serving the older bundle: refused, the kept one stays.
	srv.Publish(t, oldB, oldSig)
	p2, _ := bundle.NewPoller(opts)
	if ok, err := p2.LoadPersisted(); !ok || err != nil {
		t.Fatalf("load persisted: %v %v", ok, err)
	}
	if _, err := p2.Poll(t.Context()); err == nil || !strings.Contains(err.Error(), "before the current bundle") {
		t.Fatalf("an older bundle after a restart: %v", err)
	}
	files, err := p2.Files()
	if err != nil || files.ID() != revisionOf(t, "new") {
		t.Fatalf("files after restart: %v", err)
	}

	// The server down: the kept bundle is what the engine loads.
	srv.Close()
	p3, _ := bundle.NewPoller(opts)
	if ok, err := p3.LoadPersisted(); !ok || err != nil {
		t.Fatalf("load persisted: %v %v", ok, err)
	}
	if _, err := p3.Poll(t.Context()); err == nil {
		t.Fatal("a poll of a closed server succeeded")
	}
	e, err := policy.New(t.Context(), policy.Options{Files: p3.Files, SourceName: srv.URL})
	if err != nil || e.Revision().ID != revisionOf(t, "new") {
		t.Fatalf("engine on the persisted bundle: %v", err)
	}

	// A kept bundle changed on disk is refused, not loaded.
	os.WriteFile(filepath.Join(keep, "bundle.tar.gz"), oldB, 0o644)
	p4, _ := bundle.NewPoller(opts)
	if ok, err := p4.LoadPersisted(); ok || err == nil {
		t.Fatalf("a tampered persisted bundle loaded: %v %v", ok, err)
	}
}
