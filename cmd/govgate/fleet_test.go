package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/fleet"
	"github.com/govgate/govgate/fleet/fleettest"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestFleetStatusExitCodes: `govgate fleet status` over two real gateways exits 1 and
// names the divergence while they run different revisions, and 0 once they agree; the
// fleet file and --json give the same answer.
func TestFleetStatusExitCodes(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	officer := pki.Officer(t)
	srvA, srvB := bundletest.NewServer(t), bundletest.NewServer(t)
	one, two := bundletest.Build(t, "one"), bundletest.Build(t, "two")
	srvA.Publish(t, one, officer.Sign(t, one))
	srvB.Publish(t, two, officer.Sign(t, two))
	a := fleettest.StartGateway(t, "gw-a", srvA.URL, pki.CAFile)
	b := fleettest.StartGateway(t, "gw-b", srvB.URL, pki.CAFile)

	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"fleet", "status", "--gateway", "gw-a=" + a, "--gateway", "gw-b=" + b, "--grace", "1ns"}, &stdout, &stderr)
	if code != exitFailure || !strings.Contains(stdout.String(), fleet.KindPolicyRevision) || !strings.Contains(stdout.String(), "policy officer") {
		t.Fatalf("two revisions: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	srvA.Publish(t, two, officer.Sign(t, two))
	file := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(file, []byte("gateways:\n  - {name: gw-a, admin: \""+a+"\"}\n  - {name: gw-b, admin: \""+b+"\"}\n"), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for {
		stdout.Reset()
		code = run(t.Context(), []string{"fleet", "status", "--config", file, "--json", "--grace", "1ns"}, &stdout, &stderr)
		if code == exitOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fleet does not agree: exit %d\n%s", code, stdout.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var r fleet.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || !r.OK || len(r.Gateways) != 2 || len(r.Revisions) != 1 {
		t.Fatalf("--json: %v %+v", err, r)
	}
	if code := run(t.Context(), []string{"fleet", "status"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("no gateways: exit %d", code)
	}
}
