package gateway

import (
	"strings"
	"testing"
)

// A careless operator who configures Redis but leaves addrs empty (a template that
// rendered no address, a list moved to another key) must not get a gateway that silently
// keeps its replay and quota state in memory: that gateway is weaker than its config says.
// And a key_prefix holding a hash tag would put every department on one Cluster slot.
func TestSharedConfigRedisWithoutAddrsRefused(t *testing.T) {
	for _, c := range []struct{ yaml, field string }{
		{"shared: {redis: {mode: cluster}}", "shared.redis.addrs"},
		{"shared: {redis: {mode: sentinel, sentinel_master: m}}", "shared.redis.addrs"},
		{"shared: {redis: {password_env: GOVGATE_REDIS_PASSWORD}}", "shared.redis.addrs"},
		{"shared: {redis: {tls: {ca: ca.pem}}}", "shared.redis.addrs"},
		{"shared: {redis: {key_prefix: \"fleet1:\"}}", "shared.redis.addrs"},
		{"shared: {on_failure: {replay: local}}", "shared.redis.addrs"},
		{"shared: {redis: {addrs: [127.0.0.1:1], key_prefix: \"gov{gate}:\"}}", "shared.redis.key_prefix"},
		{"shared: {redis: {addrs: [127.0.0.1:1], key_prefix: \"gov}\"}}", "shared.redis.key_prefix"},
	} {
		_, err := ParseConfig([]byte(validYAML + c.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v; want an error about %s", c.yaml, err, c.field)
		}
	}
}
