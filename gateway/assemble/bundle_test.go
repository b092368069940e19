package assemble

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// policyView is the part of GET /policy this test reads.
type policyView struct {
	Revision string         `json:"revision"`
	Bundle   *bundle.Status `json:"bundle"`
}

func getPolicy(t *testing.T, admin string) policyView {
	t.Helper()
	status, body, err := fasthttp.Get(nil, "http://"+admin+"/policy")
	if err != nil || status != 200 {
		t.Fatalf("GET /policy: %v %d %s", err, status, body)
	}
	var v policyView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFleetGoesLiveOnOneSignedBundle builds two gateways on one bundle server: both serve
// the first signed bundle, both take a new one within the poll interval, and neither
// takes a bundle signed by an auditor; /policy names the bundle, its signer, URL and ETag.
func TestFleetGoesLiveOnOneSignedBundle(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	srv := bundletest.NewServer(t)
	b1 := bundletest.Build(t, "one")
	srv.Publish(t, b1, officer.Sign(t, b1))
	p := newTestPKI(t)
	pln := startProvider(t)
	const interval = time.Second
	var admins []string
	for range 2 {
		listen, admin := freeAddr(t), freeAddr(t)
		cfg := exampleConfig(t, p, listen, admin, pln.Addr().String())
		cfg.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: interval, SignersCA: []string{pki.CAFile}, PersistDir: t.TempDir(), Audience: bundletest.Audience}
		startBuilt(t, cfg, quiet)
		admins = append(admins, admin)
	}
	first := getPolicy(t, admins[0])
	for _, admin := range admins {
		v := getPolicy(t, admin)
		if v.Revision != first.Revision || v.Bundle == nil || v.Bundle.Revision != "one" || v.Bundle.URL != srv.URL || v.Bundle.ETag == "" ||
			v.Bundle.Signer == nil || v.Bundle.Signer.Serial != officer.Cert.SerialNumber.Text(16) || v.Bundle.Signer.Department != "sec" {
			t.Fatalf("/policy of %s: %+v %+v", admin, v, v.Bundle)
		}
	}

	// An auditor's bundle is refused by both; the first revision keeps serving.
	auditor := pki.Issue(t, "auditor", "sec", "auditor")
	bad := bundletest.Build(t, "auditors")
	srv.Publish(t, bad, auditor.Sign(t, bad))
	for _, admin := range admins {
		waitFor(t, "the refusal on "+admin, func() bool { return getPolicy(t, admin).Bundle.LastError != "" })
		if v := getPolicy(t, admin); v.Revision != first.Revision || v.Bundle.Revision != "one" {
			t.Fatalf("%s after an auditor's bundle: %+v", admin, v.Bundle)
		}
	}

	// The refusal shows in the metrics an alert reads.
	if status, body, err := fasthttp.Get(nil, "http://"+admins[0]+"/metrics"); err != nil || status != 200 ||
		!strings.Contains(string(body), "govgate_policy_bundle_failing 1") || !strings.Contains(string(body), `govgate_policy_bundle_polls_total{result="refused"}`) {
		t.Fatalf("/metrics after a refused bundle: %v %d", err, status)
	}

	// A new officer's bundle is live on both.
	b2 := bundletest.Build(t, "two")
	srv.Publish(t, b2, officer.Sign(t, b2))
	for _, admin := range admins {
		waitFor(t, "bundle two on "+admin, func() bool { return getPolicy(t, admin).Bundle.Revision == "two" })
	}
	if a, b := getPolicy(t, admins[0]), getPolicy(t, admins[1]); a.Revision != b.Revision || a.Revision == first.Revision {
		t.Fatalf("revisions after bundle two: %s and %s (first %s)", a.Revision, b.Revision, first.Revision)
	}
}

// TestBundleConfigRefused: a bundle beside a policy directory, or without signers' CAs,
// is a configuration error, and an unverifiable first bundle stops the start.
func TestBundleConfigRefused(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	srv := bundletest.NewServer(t)
	b := bundletest.Build(t, "one")
	srv.Publish(t, b, pki.Issue(t, "operator", "", "operator").Sign(t, b))
	p := newTestPKI(t)
	for name, set := range map[string]func(*gateway.Config){
		"dir and bundle": func(c *gateway.Config) {
			c.Policy.Dir = t.TempDir()
			c.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, SignersCA: []string{pki.CAFile}, PersistDir: t.TempDir(), Audience: bundletest.Audience}
		},
		"no persist_dir": func(c *gateway.Config) {
			c.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, SignersCA: []string{pki.CAFile}, Audience: bundletest.Audience}
		},
		"no audience": func(c *gateway.Config) {
			c.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, SignersCA: []string{pki.CAFile}, PersistDir: t.TempDir()}
		},
		"audience with a space": func(c *gateway.Config) {
			c.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, SignersCA: []string{pki.CAFile}, PersistDir: t.TempDir(), Audience: "fleet a"}
		},
		"no signers CA": func(c *gateway.Config) {
			c.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, PersistDir: t.TempDir(), Audience: bundletest.Audience}
		},
		"first bundle by a non-officer": func(c *gateway.Config) {
			c.Policy.Bundle = &gateway.PolicyBundle{URL: srv.URL, PollInterval: time.Second, SignersCA: []string{pki.CAFile}, PersistDir: t.TempDir(), Audience: bundletest.Audience}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), "127.0.0.1:1")
			set(cfg)
			if a, err := Build(t.Context(), cfg, Options{Logger: quiet}); err == nil {
				a.Close()
				t.Fatal("built")
			}
		})
	}
}
