package gateway

import (
	"slices"
	"strings"
)

// validateShared checks the shared section: a mode that fits the addresses, credentials
// named by environment variable, a TLS pair given whole, and known failure behaviours.
func (c *Config) validateShared(add addFunc) {
	s := c.Shared
	switch s.OnFailure.Replay {
	case OnFailureRefuse, OnFailureLocal:
	default:
		add("shared.on_failure.replay", "%q is not refuse or local", s.OnFailure.Replay)
	}
	switch s.OnFailure.Quota {
	case OnFailureRefuse, OnFailureLocal, OnFailureAllow:
	default:
		add("shared.on_failure.quota", "%q is not refuse, local or allow", s.OnFailure.Quota)
	}
	r := s.Redis
	for i, a := range r.Addrs {
		if err := checkAddress(a); err != nil {
			add("shared.redis.addrs", "[%d] %v", i, err)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(r.Addrs)))) != len(r.Addrs) {
		add("shared.redis.addrs", "an address is listed twice")
	}
	switch r.Mode {
	case RedisStandalone:
		if len(r.Addrs) > 1 {
			add("shared.redis.mode", "standalone takes one address, not %d (cluster seeds or sentinels: set mode)", len(r.Addrs))
		}
	case RedisCluster:
	case RedisSentinel:
		if r.SentinelMaster == "" && len(r.Addrs) > 0 {
			add("shared.redis.sentinel_master", "required with mode sentinel")
		}
	default:
		add("shared.redis.mode", "%q is not standalone, cluster or sentinel", r.Mode)
	}
	if r.SentinelMaster != "" && r.Mode != RedisSentinel {
		add("shared.redis.sentinel_master", "set only with mode sentinel")
	}
	if r.DialTimeout < 0 || r.Timeout < 0 {
		add("shared.redis", "dial_timeout and timeout must not be negative")
	}
	if (r.TLS.Cert == "") != (r.TLS.Key == "") {
		add("shared.redis.tls", "cert and key go together")
	}
	if r.PasswordEnv == "" && r.UsernameEnv != "" {
		add("shared.redis.password_env", "required with username_env")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		// The department's braces must be the key's first hash tag, or Redis Cluster
		// puts every department on the one slot the prefix names.
		add("shared.redis.key_prefix", "%q holds a brace; the department's hash tag must be the key's first", r.KeyPrefix)
	}
	if !s.Enabled() && s.configured() {
		// Without an address the gateway keeps its state in memory: a section that says
		// how to reach Redis and has nowhere to reach it is a mistake, not a choice.
		add("shared.redis.addrs", "empty, so replay and quota state stay in this gateway's memory, yet the shared section configures Redis; name its address(es) or remove the section")
	}
}

// configured reports whether the section sets anything besides its defaults.
func (s *Shared) configured() bool {
	r := s.Redis
	return r.Mode != RedisStandalone || r.SentinelMaster != "" || r.UsernameEnv != "" || r.PasswordEnv != "" ||
		r.TLS != (SharedTLS{}) || r.KeyPrefix != DefaultRedisKeyPrefix ||
		r.DialTimeout != DefaultRedisDialTimeout || r.Timeout != DefaultRedisTimeout ||
		s.OnFailure != (SharedOnFailure{Replay: OnFailureRefuse, Quota: OnFailureRefuse})
}
