package assemble

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestBundleURLCredentialsNeverShown: a bundle server password written into
// policy.bundle.url (http://user:password@host/…, which net/http sends as Basic auth)
// must not reach /policy (url, source, last_error), the fleet view or the logs.
func TestBundleURLCredentialsNeverShown(t *testing.T) {
	const secret = "s3cret-bundle-pass"
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	b := bundletest.Build(t, "one")
	srv.Publish(t, b, officer.Sign(t, b))
	p := newTestPKI(t)
	pln := startProvider(t)
	admin := freeAddr(t)
	cfg := exampleConfig(t, p, freeAddr(t), admin, pln.Addr().String())
	url := strings.Replace(srv.URL, "http://", "http://policy:"+secret+"@", 1)
	cfg.Policy.Bundle = &gateway.PolicyBundle{URL: url, PollInterval: time.Hour, SignersCA: []string{pki.CAFile}, PersistDir: t.TempDir(), Audience: bundletest.Audience}
	a, err := Build(t.Context(), cfg, Options{Logger: quiet})
	if err != nil {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the refusal shows the password: %v", err)
		}
		return // refused, without showing it
	}
	defer a.Close()
	if err := a.Gateway.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Gateway.Shutdown(ctx)
	}()
	_, body, err := fasthttp.Get(nil, "http://"+admin+"/policy")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), secret) {
		t.Fatalf("/policy shows the bundle server's password: %s", body)
	}
}
