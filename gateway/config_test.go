package gateway

import (
	"strings"
	"testing"
	"time"
)

const validYAML = `
gateway_id: gw-01
listeners:
  - name: ext
    address: 127.0.0.1:8080
    zone: external
    transport: plain
routes:
  - id: population-query
    path_prefix: /population/v1/
    resource: population.basic
    mode: query
    pool: population
    target_zone: internal
pools:
  - id: population
    addresses: [127.0.0.1:9001]
`

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if r.PathPrefix != "/population/v1" || r.Timeout != DefaultUpstreamTimeout || r.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("route defaults: %+v", r)
	}
	if cfg.Admin.Address != DefaultAdminAddress || cfg.Limits.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("defaults: %+v %+v", cfg.Admin, cfg.Limits)
	}
	if p := cfg.Pools[0]; p.Balance != BalanceRoundRobin || p.MaxConns != DefaultMaxConns || p.Passive.MaxFails != DefaultMaxFails {
		t.Errorf("pool defaults: %+v", p)
	}
	audited, err := ParseConfig([]byte(strings.Replace(validYAML, "gateway_id: gw-01\n", "gateway_id: gw-01\naudit: {dir: /tmp/a}\nkeys: {dir: /tmp/k}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if audited.Audit.CommitDelay != 0 {
		t.Errorf("audit.commit_delay defaults to %s: a commit must not be held unless asked", audited.Audit.CommitDelay)
	}
	held, err := ParseConfig([]byte(strings.Replace(validYAML, "gateway_id: gw-01\n", "gateway_id: gw-01\naudit: {dir: /tmp/a, commit_delay: 300us}\nkeys: {dir: /tmp/k}\n", 1)))
	if err != nil || held.Audit.CommitDelay != 300*time.Microsecond {
		t.Errorf("audit.commit_delay 300us: %v, %v", held.Audit.CommitDelay, err)
	}
	// The edges an operator may write: the smallest delay there is, and the bound itself.
	for _, edge := range []struct {
		yaml string
		want time.Duration
	}{{"1ns", time.Nanosecond}, {"10ms", MaxAuditCommitDelay}} {
		c, err := ParseConfig([]byte(strings.Replace(validYAML, "gateway_id: gw-01\n", "gateway_id: gw-01\naudit: {dir: /tmp/a, commit_delay: "+edge.yaml+"}\nkeys: {dir: /tmp/k}\n", 1)))
		if err != nil || c.Audit.CommitDelay != edge.want {
			t.Errorf("audit.commit_delay %s: %v, %v; want %s accepted", edge.yaml, c.Audit.CommitDelay, err, edge.want)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown field", "    transport: plain\n", "    transport: plain\n    tranport: tls\n", "field tranport not found"},
		{"dangling pool", "    pool: population\n", "    pool: populaton\n", `routes[0].pool: no pool has id "populaton"`},
		{"plain off loopback", "address: 127.0.0.1:8080", "address: 0.0.0.0:8080", "listeners[0].transport: plain HTTP on non-loopback"},
		{"bad zone", "zone: external", "zone: dmz", `listeners[0].zone: "dmz"`},
		{"bad transport", "transport: plain", "transport: ssl", `listeners[0].transport: "ssl"`},
		{"bad mode", "mode: query", "mode: stream", `routes[0].mode: "stream"`},
		{"missing gateway id", "gateway_id: gw-01", "gateway_id: ''", "gateway_id: required"},
		{"pool without addresses", "addresses: [127.0.0.1:9001]", "addresses: []", "pools[0].addresses"},
		{"admin off loopback", "gateway_id: gw-01\n", "gateway_id: gw-01\nadmin: {address: '0.0.0.0:9090'}\n", "admin.address"},
		{"commit delay past 10ms", "gateway_id: gw-01\n", "gateway_id: gw-01\naudit: {dir: /tmp/a, commit_delay: 20ms}\nkeys: {dir: /tmp/k}\n", "audit.commit_delay: 20ms: must be between 0 (commit at once) and 10ms"},
		{"commit delay just past 10ms", "gateway_id: gw-01\n", "gateway_id: gw-01\naudit: {dir: /tmp/a, commit_delay: 10000001ns}\nkeys: {dir: /tmp/k}\n", "audit.commit_delay: 10.000001ms"},
		{"negative commit delay", "gateway_id: gw-01\n", "gateway_id: gw-01\naudit: {dir: /tmp/a, commit_delay: -1ms}\nkeys: {dir: /tmp/k}\n", "audit.commit_delay: -1ms"},
		{"hop-by-hop pool header", "    addresses: [127.0.0.1:9001]\n", "    addresses: [127.0.0.1:9001]\n    headers: {Connection: close}\n", "pools[0].headers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(validYAML, c.from, c.to, 1)
			if y == validYAML {
				t.Fatalf("case does not change the config")
			}
			_, err := ParseConfig([]byte(y))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestConfigDuplicatesAndOverlaps(t *testing.T) {
	base := func() *Config {
		c := testConfig("127.0.0.1:9001")
		c.Listeners[0].Address = "127.0.0.1:8080"
		c.Admin.Address = "127.0.0.1:9090"
		return c
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"duplicate route id", func(c *Config) {
			r := c.Routes[0]
			r.PathPrefix = "/other"
			c.Routes = append(c.Routes, r)
		}, `routes[1].id: duplicate route id "population-query"`},
		{"duplicate pool id", func(c *Config) { c.Pools = append(c.Pools, c.Pools[0]) }, `pools[1].id: duplicate pool id`},
		{"duplicate listener", func(c *Config) { c.Listeners = append(c.Listeners, c.Listeners[0]) }, `listeners[1].name: duplicate`},
		{"same prefix", func(c *Config) {
			r := c.Routes[0]
			r.ID = "copy"
			c.Routes = append(c.Routes, r)
		}, `routes[1].path_prefix: overlaps routes[0]`},
		{"nested prefix", func(c *Config) {
			r := c.Routes[0]
			r.ID, r.PathPrefix = "nested", "/population/v1/persons"
			c.Routes = append(c.Routes, r)
		}, `routes[1].path_prefix: overlaps routes[0]`},
		{"wildcard host overlaps named host", func(c *Config) {
			r := c.Routes[0]
			r.ID, r.Host = "hosted", "gw.example.gov.cn"
			c.Routes = append(c.Routes, r)
		}, `overlaps routes[0]`},
		{"dot segment prefix", func(c *Config) { c.Routes[0].PathPrefix = "/a/../b" }, `routes[0].path_prefix`},
		{"one resource, two sources (一数一源)", func(c *Config) {
			c.Pools = append(c.Pools, Pool{ID: "mirror", Addresses: []string{"127.0.0.1:9002"}})
			r := c.Routes[0]
			r.ID, r.PathPrefix, r.Pool = "mirror", "/mirror", "mirror"
			c.Routes = append(c.Routes, r)
		}, `routes[1].pool: resource "population.basic" is already served by pool "population"`},
		{"negative cache size", func(c *Config) { c.Policy.CacheSize = -2 }, `policy.cache_size`},
		{"tls listener without its files", func(c *Config) { c.Listeners[0].Transport = TransportTLS }, `tls.cert: required by the tls listeners`},
		{"vault without credentials", func(c *Config) { c.Keys.Backend = "vault"; c.Keys.Vault.Address = "https://v" }, `keys.vault: set either token_env or role_id`},
		{"audit without a key store", func(c *Config) {
			c.Audit = Audit{Dir: "/a", Origin: "o", SegmentBytes: 1 << 20, CheckpointInterval: 1e9}
		}, `keys.dir: required`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base()
			c.mutate(cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	// Not overlapping: sibling prefixes, a prefix that is not a segment prefix, distinct hosts.
	cfg := base()
	r := cfg.Routes[0]
	r.ID, r.PathPrefix = "sibling", "/population/v10"
	cfg.Routes = append(cfg.Routes, r)
	r.ID, r.Host, r.PathPrefix = "host-a", "a.gov.cn", "/enterprise"
	cfg.Routes = append(cfg.Routes, r)
	r.ID, r.Host = "host-b", "b.gov.cn"
	cfg.Routes = append(cfg.Routes, r)
	// One resource behind two routes of the same pool is one source.
	r.ID, r.Host, r.PathPrefix = "population-v2", "", "/population/v2"
	cfg.Routes = append(cfg.Routes, r)
	if err := cfg.Validate(); err != nil {
		t.Errorf("disjoint routes refused: %v", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := LoadConfig("../examples/govgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) == 0 || len(cfg.Pools) == 0 || len(cfg.Listeners) == 0 {
		t.Error("example config is missing routes, pools or listeners")
	}
}

func TestRedactedHidesPoolHeaders(t *testing.T) {
	cfg := testConfig("127.0.0.1:9001")
	cfg.Pools[0].Headers = map[string]string{"Authorization": "Bearer s3cr3t-provider-token"}
	out, err := cfg.Redacted().YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cr3t") || !strings.Contains(string(out), "REDACTED") {
		t.Errorf("redacted config:\n%s", out)
	}
	if cfg.Pools[0].Headers["Authorization"] != "Bearer s3cr3t-provider-token" {
		t.Error("Redacted changed the live config")
	}
}
