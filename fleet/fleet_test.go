package fleet_test

import (
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/fleet"
	"github.com/govgate/govgate/fleet/fleettest"
	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestStatusFlagsTwoRevisions: two real gateways on two bundle servers with different
// signed revisions diverge (policy_revision, and the gateway behind is named); once both
// poll the same bundle, the fleet agrees.
func TestStatusFlagsTwoRevisions(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	srvA, srvB := bundletest.NewServer(t), bundletest.NewServer(t)
	one, two := bundletest.Build(t, "one"), bundletest.Build(t, "two")
	srvA.Publish(t, one, officer.Sign(t, one))
	srvB.Publish(t, two, officer.Sign(t, two))
	gws := []fleet.Gateway{
		{Name: "gw-a", Admin: fleettest.StartGateway(t, "gw-a", srvA.URL, pki.CAFile)},
		{Name: "gw-b", Admin: fleettest.StartGateway(t, "gw-b", srvB.URL, pki.CAFile)},
	}
	// Grace 1ns: the two revisions have been live longer than that; what is asserted is
	// the comparison, not the clock.
	r := fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, gws), fleet.Options{Grace: time.Nanosecond})
	if r.OK || len(r.Revisions) != 2 || !has(r, fleet.KindPolicyRevision, "") {
		t.Fatalf("two revisions not flagged: %+v", r)
	}
	for _, g := range r.Gateways {
		if g.Policy == nil || g.Policy.Bundle == nil || g.Policy.Bundle.Signer == nil || g.Audit == nil || g.Audit.KeyID == "" || g.Ready == nil {
			t.Fatalf("%s: status incomplete: %+v", g.Name, g)
		}
	}
	// Within the grace period the same two revisions are a rollout, not a divergence.
	if r := fleet.Analyze(r.Gateways, fleet.Options{Grace: time.Hour}); !r.OK {
		t.Fatalf("a rollout within the grace period flagged: %+v", r.Divergences)
	}

	srvA.Publish(t, two, officer.Sign(t, two))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, gws), fleet.Options{Grace: time.Nanosecond})
		if r.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fleet does not agree after both took bundle two: %+v", r.Divergences)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(r.Revisions) != 1 {
		t.Fatalf("revisions %v", r.Revisions)
	}
}

// TestStatusUnreachable: a gateway whose admin API does not answer is a divergence.
func TestStatusUnreachable(t *testing.T) {
	r := fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, []fleet.Gateway{{Name: "gone", Admin: "http://" + redistest.FreeAddr(t)}}), fleet.Options{})
	if r.OK || !has(r, fleet.KindUnreachable, "gone") {
		t.Fatalf("unreachable gateway not flagged: %+v", r)
	}
}

// TestCertificateDivergence: one subject's certificate replaced on one gateway only, and
// a certificate about to expire, are flagged.
func TestCertificateDivergence(t *testing.T) {
	now := time.Now()
	gw := func(name, serial string, notAfter time.Time) fleet.GatewayStatus {
		return fleet.GatewayStatus{Gateway: fleet.Gateway{Name: name}, Reachable: true,
			Certs: []crypto.CertInfo{{Role: "tlcp-sign", Subject: "CN=gw", Serial: serial, NotAfter: notAfter}}}
	}
	r := fleet.Analyze([]fleet.GatewayStatus{gw("a", "01", now.Add(365*24*time.Hour)), gw("b", "02", now.Add(24*time.Hour))}, fleet.Options{Now: now})
	if r.OK || !has(r, fleet.KindCertNotRotated, "b") || !has(r, fleet.KindCertExpiring, "b") || has(r, fleet.KindCertNotRotated, "a") {
		t.Fatalf("certificate divergences: %+v", r.Divergences)
	}
}

func has(r *fleet.Report, kind, gw string) bool {
	for _, d := range r.Divergences {
		if d.Kind == kind && d.Gateway == gw {
			return true
		}
	}
	return false
}
