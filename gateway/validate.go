package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
)

// Validate reports every problem in the config, each naming the field it is about, so an
// operator fixes them in one pass rather than one per restart.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	if c.GatewayID == "" {
		add("gateway_id", "required")
	} else if strings.ContainsAny(c.GatewayID, " \t\r\n/") {
		add("gateway_id", "%q must not contain spaces or slashes", c.GatewayID)
	}
	if err := checkAddress(c.Admin.Address); err != nil {
		add("admin.address", "%v", err)
	} else if !isLoopback(c.Admin.Address) && (!c.Admin.AllowNonLoopback || !c.Admin.TLCP) {
		add("admin.address", "%q is not a loopback address; the admin API goes beyond loopback only with admin.tlcp (role certificates) and admin.allow_non_loopback", c.Admin.Address)
	}
	validateAdminHosts(c.Admin.Hosts, add)
	if c.Admin.TLCP && c.TLCP.ClientCA == "" {
		add("admin.tlcp", "needs the tlcp section: the admin API uses the gateway's pair and client CAs")
	}
	c.validateTLCP(add)
	if c.Policy.FastPathCheckInputs < -1 {
		add("policy.fast_path_check_inputs", "%d: want a positive count, 0 for the default, or -1 to turn the fast path off", c.Policy.FastPathCheckInputs)
	}
	if c.Policy.CacheSize < -1 {
		add("policy.cache_size", "%d: want a positive size, or -1 to disable the cache", c.Policy.CacheSize)
	}
	c.validatePolicyBundle(add)
	c.validateAudit(add)
	switch k := c.Keys; k.Backend {
	case "file":
	case "vault":
		if k.Vault.Address == "" {
			add("keys.vault.address", "required with backend vault")
		}
		if (k.Vault.TokenEnv == "") == (k.Vault.RoleID == "") {
			add("keys.vault", "set either token_env or role_id (with secret_id_env)")
		}
		if k.Vault.RoleID != "" && k.Vault.SecretIDEnv == "" {
			add("keys.vault.secret_id_env", "required with role_id")
		}
	default:
		add("keys.backend", "%q is not file or vault", k.Backend)
	}
	c.validateShared(add)
	c.validateLimits(add)
	c.validateListeners(add)
	pools := c.validatePools(add)
	c.validateRoutes(add, pools)
	return errors.Join(errs...)
}

type addFunc func(field, format string, args ...any)

// named is a config value with the name of its field, for "required" checks.
type named struct{ field, v string }

func requireAll(add addFunc, why string, fields ...named) {
	for _, f := range fields {
		if f.v == "" {
			add(f.field, "required %s", why)
		}
	}
}

func (c *Config) validateTLCP(add addFunc) {
	t := c.TLCP
	if c.UsesTransport(TransportTLCP) {
		const why = "by the tlcp listeners"
		requireAll(add, why, named{"tlcp.client_ca", t.ClientCA})
		if t.SignKeyName != "" || t.EncKeyName != "" {
			requireAll(add, why, named{"tlcp.sign_key_name", t.SignKeyName}, named{"tlcp.enc_key_name", t.EncKeyName})
		} else {
			requireAll(add, why, named{"tlcp.sign_cert", t.SignCert}, named{"tlcp.sign_key", t.SignKey},
				named{"tlcp.enc_cert", t.EncCert}, named{"tlcp.enc_key", t.EncKey})
		}
	}
	if c.UsesTransport(TransportTLS) {
		requireAll(add, "by the tls listeners", named{"tls.client_ca", c.TLS.ClientCA})
		if a := c.TLS.ACME; a.DirectoryURL != "" {
			requireAll(add, "with tls.acme", named{"tls.acme.storage_dir", a.StorageDir})
			if len(a.Domains) == 0 {
				add("tls.acme.domains", "required with tls.acme")
			}
		} else {
			requireAll(add, "by the tls listeners (or tls.acme)", named{"tls.cert", c.TLS.Cert}, named{"tls.key", c.TLS.Key})
		}
	}
	if _, err := tlcp.ParseSuites(t.CipherSuites); err != nil {
		add("tlcp.cipher_suites", "%v", err)
	}
	if t.SignKeyName != "" && c.Keys.Backend == "file" && c.Keys.Dir == "" {
		add("keys.dir", "required: the TLCP pair lives in the key store")
	}
}

func (c *Config) validateAudit(add addFunc) {
	a := c.Audit
	if a.Dir == "" {
		return
	}
	if a.CheckpointInterval <= 0 || a.CheckpointInterval > time.Second {
		add("audit.checkpoint_interval", "%s: must be positive and at most 1s", a.CheckpointInterval)
	}
	if a.CommitDelay < 0 || a.CommitDelay > MaxAuditCommitDelay {
		add("audit.commit_delay", "%s: must be between 0 (commit at once) and %s: every exchange of a held batch waits for it", a.CommitDelay, MaxAuditCommitDelay)
	}
	if a.SegmentBytes < 64<<10 {
		add("audit.segment_bytes", "%d: at least 65536", a.SegmentBytes)
	}
	if a.Retention < 0 {
		add("audit.retention", "must not be negative")
	}
	if strings.ContainsAny(a.Origin, "\n; +") || a.Origin == "" {
		add("audit.origin", "%q: one non-empty line without spaces, ';' or '+' (it is quoted in receipts and is the checkpoint key name)", a.Origin)
	}
	if c.Keys.Backend == "file" && c.Keys.Dir == "" {
		add("keys.dir", "required: the audit signing key lives in the key store")
	}
}

func (c *Config) validateLimits(add addFunc) {
	l := c.Limits
	if l.MaxHeaderBytes < 1024 {
		add("limits.max_header_bytes", "%d is below 1024", l.MaxHeaderBytes)
	}
	if l.MaxConnsPerClient < 0 {
		add("limits.max_conns_per_client", "must not be negative")
	}
	for _, t := range []struct {
		field string
		d     time.Duration
	}{
		{"limits.read_timeout", l.ReadTimeout}, {"limits.write_timeout", l.WriteTimeout},
		{"limits.idle_timeout", l.IdleTimeout}, {"limits.shutdown_timeout", l.ShutdownTimeout},
	} {
		if t.d < 0 {
			add(t.field, "must not be negative")
		}
	}
	validateReleaseLimits(l, add)
	validateMemoryLimit(l, add)
}

func (c *Config) validateListeners(add addFunc) {
	if len(c.Listeners) == 0 {
		add("listeners", "at least one listener is required")
	}
	names := map[string]bool{}
	addrs := map[string]bool{}
	for i, l := range c.Listeners {
		f := fmt.Sprintf("listeners[%d]", i)
		if names[l.Name] {
			add(f+".name", "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
		if err := checkAddress(l.Address); err != nil {
			add(f+".address", "%v", err)
		} else if !ephemeralPort(l.Address) && (addrs[l.Address] || l.Address == c.Admin.Address) {
			add(f+".address", "%q is used twice", l.Address)
		}
		addrs[l.Address] = true
		if !validZone(l.Zone) {
			add(f+".zone", "%q is not one of internal, external, internet", l.Zone)
		}
		switch l.Transport {
		case TransportPlain:
			if !l.AllowPlainNonLoopback && !isLoopback(l.Address) {
				add(f+".transport", "plain HTTP on non-loopback %q sends identities and data in clear; use tls or tlcp, or set allow_plain_non_loopback", l.Address)
			}
		case TransportTLS, TransportTLCP:
		default:
			add(f+".transport", "%q is not one of plain, tls, tlcp", l.Transport)
		}
	}
}

func (c *Config) validatePools(add addFunc) map[string]bool {
	ids := map[string]bool{}
	for i, p := range c.Pools {
		f := fmt.Sprintf("pools[%d]", i)
		if p.ID == "" {
			add(f+".id", "required")
		} else if ids[p.ID] {
			add(f+".id", "duplicate pool id %q", p.ID)
		}
		ids[p.ID] = true
		if len(p.Addresses) == 0 {
			add(f+".addresses", "at least one address is required")
		}
		seen := map[string]bool{}
		for j, a := range p.Addresses {
			if err := checkAddress(a); err != nil {
				add(fmt.Sprintf("%s.addresses[%d]", f, j), "%v", err)
			} else if seen[a] {
				add(fmt.Sprintf("%s.addresses[%d]", f, j), "%q is listed twice", a)
			}
			seen[a] = true
		}
		if p.Host != "" && !validUpstreamHost(p.Host) {
			add(f+".host", "%q is not host or host:port", p.Host)
		}
		if p.Balance != BalanceRoundRobin && p.Balance != BalanceLeastConn {
			add(f+".balance", "%q is not one of round_robin, least_conn", p.Balance)
		}
		if p.MaxConns < 1 {
			add(f+".max_conns", "must be at least 1")
		}
		if p.MaxResponseBytes < 1 {
			add(f+".max_response_bytes", "must be at least 1")
		}
		for k := range p.Headers {
			if !validHeaderName(k) || isHopByHop(k) || hasGovgatePrefix(k) {
				add(f+".headers", "%q cannot be set on forwarded requests", k)
			}
		}
		hc := p.HealthCheck
		if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
			add(f+".health_check.path", "%q must start with /", hc.Path)
		}
		if hc.Interval < 0 || hc.Timeout < 0 || hc.HealthyThreshold < 1 || hc.UnhealthyThreshold < 1 {
			add(f+".health_check", "interval and timeout must be positive, thresholds at least 1")
		}
		if p.Passive.MaxFails < 0 || p.Passive.EjectDuration < 0 {
			add(f+".passive", "max_fails and eject_duration must not be negative")
		}
	}
	return ids
}

func (c *Config) validateRoutes(add addFunc, pools map[string]bool) {
	ids := map[string]bool{}
	for i, r := range c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if r.ID == "" {
			add(f+".id", "required")
		} else if ids[r.ID] {
			add(f+".id", "duplicate route id %q", r.ID)
		}
		ids[r.ID] = true
		if !strings.HasPrefix(r.PathPrefix, "/") {
			add(f+".path_prefix", "%q must start with /", r.PathPrefix)
		} else if ambiguousPath([]byte(r.PathPrefix)) || strings.Contains(r.PathPrefix, "%") {
			// Without escapes, the router's byte comparison is the comparison of the decoded
			// path every provider makes.
			add(f+".path_prefix", "%q is not a normalised path without percent escapes", r.PathPrefix)
		}
		if strings.ContainsAny(r.Host, "/ ") {
			add(f+".host", "%q is not a host name", r.Host)
		}
		if r.Resource == "" {
			add(f+".resource", "required")
		}
		switch r.Mode {
		case ModeQuery, ModeExchange, ModePublish:
		default:
			add(f+".mode", "%q is not one of query, exchange, publish", r.Mode)
		}
		if r.Pool == "" {
			add(f+".pool", "required")
		} else if !pools[r.Pool] {
			add(f+".pool", "no pool has id %q", r.Pool)
		}
		if !validZone(r.TargetZone) {
			add(f+".target_zone", "%q is not one of internal, external, internet", r.TargetZone)
		}
		if r.Timeout <= 0 {
			add(f+".timeout", "must be positive")
		}
		validateStreamLimits(r, f, add)
		validateUploadLimit(r, f, add)
		if r.MaxBodyBytes < 0 {
			add(f+".max_body_bytes", "must not be negative")
		}
		for j, name := range r.ResponseHeaders {
			if why := unreleasable(name); why != "" {
				add(fmt.Sprintf("%s.response_headers[%d]", f, j), "%q %s", name, why)
			}
		}
		for j := 0; j < i; j++ {
			if routesOverlap(c.Routes[j], r) {
				add(f+".path_prefix", "overlaps routes[%d] (%q %s): a request could match both", j, c.Routes[j].ID, c.Routes[j].PathPrefix)
			}
			if c.indistinguishable(c.Routes[j], r) {
				add(f+".pool", "routes[%d] (%q) reaches the same provider address with the same Host on an overlapping path for another resource: the provider cannot tell %q from %q; give one of the pools its own host", j, c.Routes[j].ID, c.Routes[j].Resource, r.Resource)
			}
			// 一数一源: one resource has one authoritative source.
			if r.Resource != "" && c.Routes[j].Resource == r.Resource && c.Routes[j].Pool != r.Pool {
				add(f+".pool", "resource %q is already served by pool %q (routes[%d] %q): one resource has one source", r.Resource, c.Routes[j].Pool, j, c.Routes[j].ID)
			}
		}
	}
}

// routesOverlap is true when some request could match both routes. Two routes overlap when
// their hosts can coincide (equal, or either is the wildcard "") and one prefix covers the
// other on a segment boundary; refusing this keeps routing independent of rule order.
func routesOverlap(a, b Route) bool {
	if a.Host != "" && b.Host != "" && !strings.EqualFold(a.Host, b.Host) {
		return false
	}
	return prefixMatches(a.PathPrefix, b.PathPrefix) || prefixMatches(b.PathPrefix, a.PathPrefix)
}

// indistinguishable is true when two routes of different resources send the provider
// requests it cannot tell apart: a member address and Host in common, and paths that
// overlap. Route hosts do not separate them, since the provider never sees the client's
// Host. One address may serve several resources (one server for several systems, a
// provider's own reverse proxy) as long as Host or path tells them apart.
func (c *Config) indistinguishable(a, b Route) bool {
	if a.Resource == b.Resource || !(prefixMatches(a.PathPrefix, b.PathPrefix) || prefixMatches(b.PathPrefix, a.PathPrefix)) {
		return false
	}
	pa, pb := c.pool(a.Pool), c.pool(b.Pool)
	if pa == nil || pb == nil {
		return false
	}
	for _, x := range pa.Addresses {
		for _, y := range pb.Addresses {
			if x == y && strings.EqualFold(pa.upstreamHost(x), pb.upstreamHost(y)) {
				return true
			}
		}
	}
	return false
}

// validUpstreamHost admits what a Host header may carry and no more: a DNS name or IPv4
// address, or a bracketed IPv6 literal, with an optional numeric port.
func validUpstreamHost(h string) bool {
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 || net.ParseIP(h[1:end]) == nil {
			return false
		}
		host, port = "", h[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i:]
		if host == "" {
			return false
		}
	}
	if port != "" && (len(port) < 2 || strings.Trim(port[1:], "0123456789") != "") {
		return false
	}
	for _, c := range host {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func validZone(z Zone) bool {
	return z == ZoneInternal || z == ZoneExternal || z == ZoneInternet
}

func checkAddress(addr string) error {
	if addr == "" {
		return errors.New("required")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", addr)
	}
	return nil
}

// isLoopback is true only for addresses that cannot be reached from another machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 126 || r <= 32 || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return http.CanonicalHeaderKey(name) != ""
}

// ephemeralPort is true for ":0" addresses, where every bind gets a port of its own.
func ephemeralPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}
