package assemble

import (
	"context"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestBundleRollbackAcrossRestart: whoever controls the bundle server (or the path to it)
// waits for a gateway to restart and serves an older bundle, validly signed, whose grants
// were since withdrawn. Whatever the policy.bundle config, a restarted gateway must not go
// live on it: it refuses the config that cannot remember (no persist_dir), and with
// persist_dir it stays on the newer bundle it kept.
func TestBundleRollbackAcrossRestart(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	old := bundletest.Build(t, "old")
	oldSig, err := bundle.Sign(old, officer.Key, []*crypto.Certificate{officer.Cert}, bundletest.Audience, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	current := bundletest.Build(t, "current")
	p := newTestPKI(t)
	pln := startProvider(t)
	for _, keep := range []string{"", t.TempDir()} {
		srv.Publish(t, current, officer.Sign(t, current))
		admin := freeAddr(t)
		cfg := func() *gateway.Config {
			c := exampleConfig(t, p, freeAddr(t), admin, pln.Addr().String())
			c.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Hour, SignersCA: []string{pki.CAFile}, PersistDir: keep, Audience: bundletest.Audience}
			return c
		}
		if a, err := Build(t.Context(), cfg(), Options{Logger: quiet}); err == nil {
			a.Close() // ran on the current bundle
		}
		srv.Publish(t, old, oldSig) // the gateway restarts meanwhile
		a, err := Build(t.Context(), cfg(), Options{Logger: quiet})
		if err != nil {
			if keep != "" {
				t.Fatalf("restart with persist_dir: %v", err)
			}
			continue // refused: not live on the old bundle
		}
		if err := a.Gateway.Start(); err != nil {
			a.Close()
			t.Fatal(err)
		}
		if v := getPolicy(t, admin); v.Bundle == nil || v.Bundle.Revision != "current" {
			t.Errorf("persist_dir %q: after a restart, live on bundle %+v, not the current one", keep, v.Bundle)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.Gateway.Shutdown(ctx)
		cancel()
		a.Close()
	}
}
