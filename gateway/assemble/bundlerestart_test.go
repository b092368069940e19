package assemble

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestBundleRestartWithAPendingBrokenBundle: an officer publishes a correctly signed
// bundle whose Rego tests fail. The running gateway keeps its revision (pending shows
// the broken one); a restart, with persist_dir, must start again on the revision that was
// live — not refuse to start because the kept or the fetched bundle does not pass its tests
// (one careless publication would otherwise take down every gateway that restarts).
func TestBundleRestartWithAPendingBrokenBundle(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	good := bundletest.Build(t, "good")
	srv.Publish(t, good, officer.Sign(t, good))
	p := newTestPKI(t)
	pln := startProvider(t)
	keep := t.TempDir()
	start := func() (string, func()) {
		listen, admin := freeAddr(t), freeAddr(t)
		cfg := exampleConfig(t, p, listen, admin, pln.Addr().String())
		cfg.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, SignersCA: []string{pki.CAFile}, PersistDir: keep, Audience: bundletest.Audience}
		a, err := Build(t.Context(), cfg, Options{Logger: quiet})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		if err := a.Gateway.Start(); err != nil {
			a.Close()
			t.Fatal(err)
		}
		return admin, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a.Gateway.Shutdown(ctx)
			a.Close()
		}
	}
	admin, stop := start()
	live := getPolicy(t, admin).Revision

	files := bundletest.Files(t, "")
	for path := range files.Modules {
		if strings.HasSuffix(path, "authz_test.rego") {
			files.Modules[path] = append(files.Modules[path], "\ntest_broken if { false }\n"...)
		}
	}
	broken, err := bundle.Build(files, "broken")
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(t, broken, officer.Sign(t, broken))
	waitFor(t, "the broken bundle pending", func() bool { return getPolicy(t, admin).Bundle.Pending == "broken" })
	stop()

	// Restart with the server still serving the broken bundle.
	admin, stop = start()
	v := getPolicy(t, admin)
	stop()
	if v.Revision != live || v.Bundle.Revision != "good" || v.Bundle.Pending != "broken" {
		t.Fatalf("after restart: revision %s (bundle %q, pending %q), want %s (good, pending broken)", v.Revision, v.Bundle.Revision, v.Bundle.Pending, live)
	}

	// And with the server down, too: the kept bundle is the one that was live.
	srv.Close()
	admin, stop = start()
	defer stop()
	if v := getPolicy(t, admin); v.Revision != live {
		t.Fatalf("after restart with the server down: revision %s, want %s", v.Revision, live)
	}
}
