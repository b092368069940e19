package fleet_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/fleet"
	"github.com/govgate/govgate/fleet/fleettest"
	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/keys"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// signedBundle starts a bundle server publishing one signed revision.
func signedBundle(t *testing.T) (url, ca string) {
	pki := bundletest.NewPKI(t, "officers root")
	srv := bundletest.NewServer(t)
	b := bundletest.Build(t, "one")
	srv.Publish(t, b, pki.Officer(t).Sign(t, b))
	return srv.URL, pki.CAFile
}

// waitReport collects until cond holds or 15 s pass.
func waitReport(t *testing.T, gws []fleet.Gateway, opts fleet.Options, what string, cond func(*fleet.Report) bool) *fleet.Report {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, gws), opts)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never; last report %+v", what, r.Divergences)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFleetSharedStateDown: gateways on real Redis with on_failure local (an outage
// leaves them ready, so not_ready cannot be what catches it).
//
// One Redis for two gateways: the fleet agrees; Redis stopped: each is shown degraded and
// flagged shared_state; Redis back: the fleet agrees again. Two gateways on two Redis are
// two fleets to a replay: both flagged for their differing shared: config; the Redis of
// one stopped: that one alone is flagged degraded. A gateway with no shared state beside
// gateways sharing theirs is flagged too: a replay sent to it passes.
func TestFleetSharedStateDown(t *testing.T) {
	url, ca := signedBundle(t)
	opts := fleet.Options{AuditStale: time.Hour}
	r1, r2 := redistest.Start(t), redistest.Start(t)
	same := []fleet.Gateway{
		{Name: "gw-a", Admin: fleettest.StartGatewayOpts(t, "gw-a", url, ca, fleettest.Options{Redis: r1.Addr})},
		{Name: "gw-b", Admin: fleettest.StartGatewayOpts(t, "gw-b", url, ca, fleettest.Options{Redis: r1.Addr})},
	}
	r := waitReport(t, same, opts, "one Redis, both up", func(r *fleet.Report) bool { return r.OK })
	for _, g := range r.Gateways {
		if g.SharedState != fleet.SharedUp || g.Shared == nil || len(g.Shared.Redis.Addrs) != 1 {
			t.Fatalf("%s: shared state %q, config %+v; want up on %s", g.Name, g.SharedState, g.Shared, r1.Addr)
		}
	}
	r1.Stop()
	r = waitReport(t, same, opts, "both degraded", func(r *fleet.Report) bool {
		return hasMsg(r, fleet.KindSharedState, "gw-a", "degraded") && hasMsg(r, fleet.KindSharedState, "gw-b", "degraded")
	})
	for _, g := range r.Gateways {
		if g.SharedState != fleet.SharedDegraded || g.Ready == nil || !g.Ready.Ready {
			t.Fatalf("%s: shared state %q, ready %+v; want degraded and still ready", g.Name, g.SharedState, g.Ready)
		}
	}
	r1.Restart()
	waitReport(t, same, opts, "recovery", func(r *fleet.Report) bool { return r.OK })

	apart := []fleet.Gateway{same[0], {Name: "gw-c", Admin: fleettest.StartGatewayOpts(t, "gw-c", url, ca, fleettest.Options{Redis: r2.Addr})}}
	r = fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, apart), opts)
	if !hasMsg(r, fleet.KindSharedState, "gw-a", r2.Addr) || !hasMsg(r, fleet.KindSharedState, "gw-c", r1.Addr) {
		t.Fatalf("two Redis in one fleet: %+v", r.Divergences)
	}
	r2.Stop()
	r = waitReport(t, apart, opts, "gw-c degraded", func(r *fleet.Report) bool { return hasMsg(r, fleet.KindSharedState, "gw-c", "degraded") })
	if hasMsg(r, fleet.KindSharedState, "gw-a", "degraded") || r.Gateways[0].SharedState != fleet.SharedUp {
		t.Fatalf("gw-a, whose Redis answers, flagged degraded: %+v", r.Divergences)
	}

	mixed := []fleet.Gateway{same[0], same[1], {Name: "gw-mem", Admin: fleettest.StartGateway(t, "gw-mem", url, ca)}}
	r = fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, mixed), opts)
	if !has(r, fleet.KindSharedState, "gw-mem") || has(r, fleet.KindSharedState, "gw-a") {
		t.Fatalf("a gateway keeping its state in memory beside sharing ones: %+v", r.Divergences)
	}
}

func hasMsg(r *fleet.Report, kind, gw, substr string) bool {
	for _, d := range r.Divergences {
		if d.Kind == kind && d.Gateway == gw && strings.Contains(d.Message, substr) {
			return true
		}
	}
	return false
}

// TestFleetKeyVersionAfterRotation: two gateways on one file key store; the audit key
// rotated in the store; the gateway that polls often takes the new version, the one that
// polls hourly keeps the old: past the grace it is flagged key_version, within it not.
func TestFleetKeyVersionAfterRotation(t *testing.T) {
	url, ca := signedBundle(t)
	dir := filepath.Join(t.TempDir(), "keys")
	gws := []fleet.Gateway{
		{Name: "gw-fast", Admin: fleettest.StartGatewayOpts(t, "gw-fast", url, ca, fleettest.Options{KeysDir: dir})},
		{Name: "gw-slow", Admin: fleettest.StartGatewayOpts(t, "gw-slow", url, ca, fleettest.Options{KeysDir: dir, KeyPoll: time.Hour})},
	}
	r := fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, gws), fleet.Options{KeyGrace: time.Nanosecond, AuditStale: time.Hour})
	if !r.OK {
		t.Fatalf("before the rotation: %+v", r.Divergences)
	}
	for _, g := range r.Gateways {
		if g.Keys == nil || g.Keys.Store != "file:"+dir || len(g.Keys.Keys) != 1 || g.Keys.Keys[0].InUse != 1 {
			t.Fatalf("%s: keys %+v; want the audit key at version 1 on file:%s", g.Name, g.Keys, dir)
		}
	}

	store, err := keys.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.PutNewSM2Key(context.Background(), store, "audit-signing", nil); err != nil {
		t.Fatal(err)
	}
	opts := fleet.Options{KeyGrace: time.Nanosecond, AuditStale: time.Hour}
	r = waitReport(t, gws, opts, "gw-slow flagged", func(r *fleet.Report) bool { return has(r, fleet.KindKeyVersion, "gw-slow") })
	if has(r, fleet.KindKeyVersion, "gw-fast") {
		t.Fatalf("the gateway on the newest version flagged: %+v", r.Divergences)
	}
	if k := r.Gateways[1].Keys.Keys[0]; k.Latest != 2 || k.InUse != 1 {
		t.Fatalf("gw-slow key %+v; want latest 2, in use 1", k)
	}
	if r := fleet.Analyze(r.Gateways, fleet.Options{KeyGrace: time.Hour, AuditStale: time.Hour}); has(r, fleet.KindKeyVersion, "gw-slow") {
		t.Fatalf("a rotation within the grace flagged: %+v", r.Divergences)
	}
}

// TestFleetAuditStale: a real gateway reports when its latest checkpoint was signed
// (/metrics) and, checkpointing every 50ms, is not stale. A log with records past a
// checkpoint older than the limit, or with records and no checkpoint since a log opened
// longer ago, is flagged; one that has not grown since its old checkpoint (idle), one
// within the limit and one just opened are not. (The
// log signs every checkpoint_interval, at most 1s, so a real gateway cannot be made to
// fall behind on loopback without breaking its disk: these cases are statuses as
// Collect builds them.)
func TestFleetAuditStale(t *testing.T) {
	url, ca := signedBundle(t)
	gws := []fleet.Gateway{{Name: "gw-live", Admin: fleettest.StartGateway(t, "gw-live", url, ca)}}
	r := fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, gws), fleet.Options{})
	a := r.Gateways[0].Audit
	if a == nil || a.CheckpointAt == nil || a.LogSize == nil || time.Since(*a.CheckpointAt) > time.Minute || time.Since(*a.CheckpointAt) < -time.Minute {
		t.Fatalf("audit status %+v; want the checkpoint's signing time from /metrics", a)
	}
	if has(r, fleet.KindAuditStale, "gw-live") {
		t.Fatalf("a gateway checkpointing every 50ms flagged: %+v", r.Divergences)
	}

	now := time.Now()
	gw := func(name string, size, ckpt uint64, age time.Duration, missing bool) fleet.GatewayStatus {
		at := now.Add(-age)
		a := &fleet.AuditStatus{LogSize: &size, CheckpointSize: ckpt, CheckpointAt: &at, Missing: missing}
		return fleet.GatewayStatus{Gateway: fleet.Gateway{Name: name}, Reachable: true, Audit: a}
	}
	r = fleet.Analyze([]fleet.GatewayStatus{
		gw("behind", 120, 100, 2*time.Minute, false),
		gw("never", 5, 0, 2*time.Minute, true),           // opened 2 minutes ago, nothing signed
		gw("starting", 5, 0, 200*time.Millisecond, true), // opened just now: its first is due
		gw("idle", 100, 100, 24*time.Hour, false),
		gw("recent", 120, 100, 10*time.Second, false),
	}, fleet.Options{Now: now})
	if !has(r, fleet.KindAuditStale, "behind") || !has(r, fleet.KindAuditStale, "never") ||
		has(r, fleet.KindAuditStale, "idle") || has(r, fleet.KindAuditStale, "recent") || has(r, fleet.KindAuditStale, "starting") {
		t.Fatalf("audit_stale: %+v", r.Divergences)
	}
	if r := fleet.Analyze(r.Gateways, fleet.Options{Now: now, AuditStale: 5 * time.Second}); !has(r, fleet.KindAuditStale, "recent") {
		t.Fatalf("--stale 5s: a checkpoint 10s old with records past it not flagged: %+v", r.Divergences)
	}
}
