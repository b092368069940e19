package gateway_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/govgate/govgate/gateway"
)

func TestAdminEndpoints(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Pools[0].Headers = map[string]string{"Authorization": "Bearer provider-secret"}
	var next atomic.Pointer[Config]
	next.Store(cfg)
	source := func() (*Config, error) {
		c := next.Load()
		if c == nil {
			return nil, errors.New("config file: yaml: line 3: did not find expected key")
		}
		return c, c.Validate()
	}
	gw := startGateway(t, cfg, Options{Source: source})

	if s, _, b := do(t, "GET", gw.admin+"/healthz", "", nil); s != 200 || string(b) != "ok\n" {
		t.Errorf("/healthz: %d %q", s, b)
	}
	do(t, "GET", gw.base+"/population/v1/persons", "", nil)
	do(t, "GET", gw.base+"/nowhere", "", nil)
	_, _, metrics := do(t, "GET", gw.admin+"/metrics", "", nil)
	for _, want := range []struct {
		name   string
		labels []string
	}{
		{"govgate_requests_total", []string{"route=population-query", "status=200", "decision=none"}},
		{"govgate_requests_total", []string{"route=", "status=404", "decision=none"}},
		{"govgate_stage_duration_seconds", []string{"stage=forward"}},
		{"govgate_upstream_healthy", []string{"pool=population", "member=" + up.addr}},
	} {
		if !hasSample(t, metrics, 1, want.name, want.labels...) {
			t.Errorf("/metrics lacks %s%v = 1:\n%s", want.name, want.labels, metrics)
		}
	}
	mustSample(t, metrics, "govgate_open_connections", "listener=ext")
	if _, _, b := do(t, "GET", gw.admin+"/config", "", nil); strings.Contains(string(b), "provider-secret") || !strings.Contains(string(b), "gw-test") {
		t.Errorf("/config:\n%s", b)
	}
	if s, _, _ := do(t, "GET", gw.admin+"/reload", "", nil); s != 405 {
		t.Errorf("GET /reload = %d", s)
	}
	if s, _, _ := do(t, "GET", gw.admin+"/nope", "", nil); s != 404 {
		t.Errorf("/nope = %d", s)
	}

	// A reload that fails to read keeps the running config and says why.
	next.Store(nil)
	s, _, b := do(t, "POST", gw.admin+"/reload", "", nil)
	if s != 422 || !strings.Contains(string(b), "did not find expected key") {
		t.Errorf("bad reload: %d %s", s, b)
	}
	if s, _, _ := do(t, "GET", gw.base+"/population/v1/persons", "", nil); s != 200 {
		t.Errorf("route lost after refused reload: %d", s)
	}
	// A good one applies: the route moves to a new prefix.
	moved := testConfig(up.addr)
	moved.Routes[0].PathPrefix = "/population/v2"
	next.Store(moved)
	if s, _, b := do(t, "POST", gw.admin+"/reload", "", nil); s != 200 {
		t.Fatalf("reload: %d %s", s, b)
	}
	if s, _, _ := do(t, "GET", gw.base+"/population/v2/persons", "", nil); s != 200 {
		t.Errorf("reloaded route: %d", s)
	}
	if s, _, _ := do(t, "GET", gw.base+"/population/v1/persons", "", nil); s != 404 {
		t.Errorf("removed route still served: %d", s)
	}
	_, _, metrics = do(t, "GET", gw.admin+"/metrics", "", nil)
	if !hasSample(t, metrics, 1, "govgate_config_reloads_total", "result=ok") ||
		!hasSample(t, metrics, 1, "govgate_config_reloads_total", "result=error") {
		t.Errorf("reload counters wrong:\n%s", metrics)
	}
}
