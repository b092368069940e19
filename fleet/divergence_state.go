package fleet

import (
	"fmt"
	"slices"
	"time"

	"github.com/govgate/govgate/gateway"
)

// analyzeShared flags a gateway whose Redis shared state is degraded or down (its replay
// protection or quotas are weaker than, or refusing unlike, the fleet's), and gateways
// that keep their state in memory while others share it: a replay sent to such a gateway
// passes, and its quotas count apart.
func analyzeShared(gws []GatewayStatus, add func(kind, gw, format string, args ...any)) {
	var sharing, local []string
	for _, g := range gws {
		if !g.Reachable || g.Ready == nil {
			continue
		}
		switch g.SharedState {
		case "":
			local = append(local, g.Name)
		case SharedUp:
			sharing = append(sharing, g.Name)
		default:
			sharing = append(sharing, g.Name)
			add(KindSharedState, g.Name, "shared state %s: %s %s", g.SharedState, g.Ready.Parts[sharedPart], g.Ready.Warnings[sharedPart])
		}
	}
	if len(sharing) > 0 && len(local) > 0 {
		for _, name := range local {
			add(KindSharedState, name, "keeps replay claims and quotas in memory while %v share them in Redis", sharing)
		}
	}
	analyzeSharedConfig(gws, add)
}

// analyzeSharedConfig flags gateways whose shared: sections (GET /config) differ in what
// makes them share one state (Redis addresses, mode, key prefix) or in what they do
// without it (on_failure): two Redis, or two prefixes, are two fleets to a replay.
func analyzeSharedConfig(gws []GatewayStatus, add func(kind, gw, format string, args ...any)) {
	byConfig := map[string][]string{}
	for _, g := range gws {
		if g.Shared == nil || !g.Shared.Enabled() {
			continue
		}
		byConfig[sharedIdentity(g.Shared)] = append(byConfig[sharedIdentity(g.Shared)], g.Name)
	}
	if len(byConfig) < 2 {
		return
	}
	for _, g := range gws {
		if g.Shared == nil || !g.Shared.Enabled() {
			continue
		}
		add(KindSharedState, g.Name, "shared state configured as %s; the fleet's gateways differ: %v", sharedIdentity(g.Shared), byConfig)
	}
}

// sharedIdentity is what gateways sharing one state must agree on.
func sharedIdentity(s *gateway.Shared) string {
	addrs := slices.Clone(s.Redis.Addrs)
	slices.Sort(addrs)
	return fmt.Sprintf("redis %s %v prefix %q, on_failure replay %s quota %s", s.Redis.Mode, addrs, s.Redis.KeyPrefix, s.OnFailure.Replay, s.OnFailure.Quota)
}

// analyzeKeys flags, among gateways on one key store, a gateway using an older version of
// a key than another uses, once the newer version is older than the grace.
func analyzeKeys(gws []GatewayStatus, opts Options, add func(kind, gw, format string, args ...any)) {
	grace := opts.KeyGrace
	if grace == 0 {
		grace = opts.Grace
	}
	if grace == 0 {
		grace = DefaultKeyGrace
	}
	type key struct{ store, name string }
	type newest struct {
		version int
		created time.Time
		gateway string
	}
	top := map[key]newest{}
	for _, g := range gws {
		if g.Keys == nil {
			continue
		}
		for _, k := range g.Keys.Keys {
			id := key{g.Keys.Store, k.Name}
			if k.InUse > top[id].version {
				top[id] = newest{k.InUse, k.InUseCreated, g.Name}
			}
		}
	}
	for _, g := range gws {
		if g.Keys == nil {
			continue
		}
		for _, k := range g.Keys.Keys {
			n := top[key{g.Keys.Store, k.Name}]
			if k.InUse == 0 || k.InUse >= n.version || opts.Now.Sub(n.created) <= grace {
				continue
			}
			add(KindKeyVersion, g.Name, "uses key %s version %d of %s; %s uses version %d, created %s (more than %s ago)",
				k.Name, k.InUse, g.Keys.Store, n.gateway, n.version, n.created.Format(time.RFC3339), grace)
		}
	}
}

// analyzeAudit flags a gateway whose audit log holds records its latest checkpoint does
// not cover, when that checkpoint was signed longer ago than the stale limit, or none was:
// a gateway behind, whose recent exchanges no signed checkpoint vouches for.
func analyzeAudit(gws []GatewayStatus, opts Options, add func(kind, gw, format string, args ...any)) {
	stale := opts.AuditStale
	if stale == 0 {
		stale = DefaultAuditStale
	}
	for _, g := range gws {
		a := g.Audit
		if a == nil || a.LogSize == nil || *a.LogSize <= a.CheckpointSize {
			continue
		}
		switch {
		case a.CheckpointAt == nil:
			add(KindAuditStale, g.Name, "%d audit records past checkpoint %d, whose time the gateway does not report", *a.LogSize-a.CheckpointSize, a.CheckpointSize)
		case opts.Now.Sub(*a.CheckpointAt) <= stale:
		case a.Missing:
			add(KindAuditStale, g.Name, "%d audit records and no signed checkpoint since the log was opened at %s (more than %s ago)",
				*a.LogSize, a.CheckpointAt.Format(time.RFC3339), stale)
		default:
			add(KindAuditStale, g.Name, "%d audit records past checkpoint %d, signed %s (more than %s ago)",
				*a.LogSize-a.CheckpointSize, a.CheckpointSize, a.CheckpointAt.Format(time.RFC3339), stale)
		}
	}
}
