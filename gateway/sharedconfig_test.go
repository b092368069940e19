package gateway

import (
	"strings"
	"testing"
	"time"
)

// The shared section: off by default with its documented defaults; the shape the demo
// and examples/govgate.yaml use parses; a careless operator's mistakes are each refused
// naming the field.
func TestSharedConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Shared
	if s.Enabled() || s.Redis.Mode != RedisStandalone || s.Redis.Timeout != 500*time.Millisecond || s.Redis.DialTimeout != 2*time.Second ||
		s.Redis.KeyPrefix != "govgate:" || s.OnFailure.Replay != OnFailureRefuse || s.OnFailure.Quota != OnFailureRefuse {
		t.Fatalf("defaults: %+v", s)
	}
	on := validYAML + `shared:
  redis:
    addrs: [127.0.0.1:6379]
    password_env: GOVGATE_REDIS_PASSWORD
    tls: {ca: /etc/govgate/redis-ca.pem, server_name: redis.internal}
    timeout: 200ms
  on_failure: {replay: local, quota: allow}
`
	cfg, err = ParseConfig([]byte(on))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Shared; !s.Enabled() || !s.Redis.TLS.Enabled() || s.Redis.Timeout != 200*time.Millisecond || s.OnFailure.Quota != OnFailureAllow {
		t.Fatalf("parsed: %+v", s)
	}
	for _, c := range []struct{ yaml, field string }{
		{"shared: {redis: {addrs: [a:1, b:2]}}", "shared.redis.mode"},
		{"shared: {redis: {addrs: [127.0.0.1:1], mode: sentinel}}", "shared.redis.sentinel_master"},
		{"shared: {redis: {addrs: [127.0.0.1:1], sentinel_master: m}}", "shared.redis.sentinel_master"},
		{"shared: {redis: {addrs: [127.0.0.1:1], mode: ring}}", "shared.redis.mode"},
		{"shared: {redis: {addrs: [127.0.0.1:1, 127.0.0.1:1], mode: cluster}}", "shared.redis.addrs"},
		{"shared: {redis: {addrs: [no-port]}}", "shared.redis.addrs"},
		{"shared: {redis: {addrs: [127.0.0.1:1], tls: {cert: c.pem}}}", "shared.redis.tls"},
		{"shared: {redis: {addrs: [127.0.0.1:1], username_env: U}}", "shared.redis.password_env"},
		{"shared: {on_failure: {replay: allow}}", "shared.on_failure.replay"},
		{"shared: {on_failure: {quota: maybe}}", "shared.on_failure.quota"},
		{"shared: {redis: {addrs: [127.0.0.1:1], password: hunter2}}", "password"},
	} {
		_, err := ParseConfig([]byte(validYAML + c.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v; want an error about %s", c.yaml, err, c.field)
		}
	}
}
