package fleet_test

import (
	"testing"
	"time"

	"github.com/govgate/govgate/fleet"
)

// TestClockAheadDoesNotHideTwoRevisions: a gateway whose clock runs a day ahead reports
// its revision loaded "tomorrow"; two revisions live must still be flagged, not taken for
// a rollout that has only just begun (for as long as the clock is off).
func TestClockAheadDoesNotHideTwoRevisions(t *testing.T) {
	now := time.Now()
	gw := func(name, rev string, loaded time.Time) fleet.GatewayStatus {
		return fleet.GatewayStatus{Gateway: fleet.Gateway{Name: name, Admin: "http://" + name}, Reachable: true,
			Policy: &fleet.PolicyStatus{Revision: rev, LoadedAt: loaded}, Ready: &fleet.ReadyStatus{Ready: true}}
	}
	r := fleet.Analyze([]fleet.GatewayStatus{gw("a", "rev-a", now.Add(-time.Hour)), gw("b", "rev-b", now.Add(24*time.Hour))}, fleet.Options{Now: now, Grace: 30 * time.Second})
	if r.OK || !has(r, fleet.KindPolicyRevision, "") {
		t.Fatalf("two revisions, one loaded a day ahead of this clock: %+v", r.Divergences)
	}
	// A rollout within the grace period is still no divergence, a little skew included.
	r = fleet.Analyze([]fleet.GatewayStatus{gw("a", "rev-a", now.Add(-time.Hour)), gw("b", "rev-b", now.Add(10*time.Second))}, fleet.Options{Now: now, Grace: 30 * time.Second})
	if !r.OK {
		t.Fatalf("a rollout within the grace: %+v", r.Divergences)
	}
}
