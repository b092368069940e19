package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
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

// TestFleetStatusOverTLCP: a gateway whose admin API speaks TLCP is read with an
// administrator's pair (--ca, --cert, --key), its TLCP certificates listed; without the
// pair nothing is read and the gateway is unreachable.
func TestFleetStatusOverTLCP(t *testing.T) {
	ca, err := certs.NewRootCA("fleet admin root", "govgate", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pair := func(prefix string, req certs.PairRequest) (sc, sk, ec, ek string) {
		p, err := ca.IssuePair(req)
		if err != nil {
			t.Fatal(err)
		}
		skp, _ := crypto.MarshalPrivateKeyPEM(p.SignKey, nil)
		ekp, _ := crypto.MarshalPrivateKeyPEM(p.EncKey, nil)
		return write(prefix+"-sign.pem", crypto.MarshalCertificatePEM(p.SignCert), 0o644), write(prefix+"-sign.key", skp, 0o600),
			write(prefix+"-enc.pem", crypto.MarshalCertificatePEM(p.EncCert), 0o644), write(prefix+"-enc.key", ekp, 0o600)
	}
	caFile := write("ca.pem", crypto.MarshalCertificatePEM(ca.Cert), 0o644)
	gsc, gsk, gec, gek := pair("gw", certs.PairRequest{System: "gw-fleet", DNSNames: []string{"localhost"}, Server: true})
	asc, ask, aec, aek := pair("admin", certs.PairRequest{System: "fleet-admin", Roles: []string{"security-officer", "crypto-admin", "auditor", "operator"}})

	pki := bundletest.NewPKI(t, "officers root")
	srv := bundletest.NewServer(t)
	b := bundletest.Build(t, "one")
	srv.Publish(t, b, pki.Officer(t).Sign(t, b))
	admin := fleettest.StartGatewayWith(t, "gw-tlcp", srv.URL, pki.CAFile, &fleettest.TLCPFiles{SignCert: gsc, SignKey: gsk, EncCert: gec, EncKey: gek, ClientCA: caFile})

	args := []string{"fleet", "status", "--gateway", admin, "--json", "--expiry-warning", "1m",
		"--ca", caFile, "--cert", asc + "," + aec, "--key", ask + "," + aek, "--server-name", "localhost"}
	var r fleet.Report
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, &stdout, &stderr)
		r = fleet.Report{}
		json.Unmarshal(stdout.Bytes(), &r)
		if code == exitOK && len(r.Gateways) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet status over TLCP: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	}
	g := r.Gateways[0]
	if g.Policy == nil || g.Policy.Bundle == nil || len(g.Certs) == 0 || g.Ready == nil || g.Keys == nil || len(g.Keys.Keys) == 0 {
		t.Fatalf("over TLCP: %+v", g)
	}
	// A pair without crypto-admin is refused GET /keys (and /certs): named under errors,
	// the gateway unreadable, no key listing.
	osc, osk, oec, oek := pair("officer", certs.PairRequest{System: "fleet-officer", Roles: []string{"security-officer", "auditor", "operator"}})
	{
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"fleet", "status", "--gateway", admin, "--json", "--ca", caFile, "--cert", osc + "," + oec, "--key", osk + "," + oek, "--server-name", "localhost"}, &stdout, &stderr)
		var r fleet.Report
		json.Unmarshal(stdout.Bytes(), &r)
		if code != exitFailure || len(r.Gateways) != 1 || r.Gateways[0].Keys != nil || !strings.Contains(r.Gateways[0].Errors["/keys"], "HTTP 403") {
			t.Fatalf("GET /keys without crypto-admin: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"fleet", "status", "--gateway", admin, "--timeout", "2s"}, &stdout, &stderr); code != exitFailure || !strings.Contains(stdout.String(), fleet.KindUnreachable) {
		t.Fatalf("without the administrator's pair: exit %d\n%s", code, stdout.String())
	}
}

// TestFleetStatusEmptyGatewayName: --gateway =URL (an empty NAME) is a usage error, not a
// gateway shown without a name.
func TestFleetStatusEmptyGatewayName(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"fleet", "status", "--gateway", "=http://127.0.0.1:1"}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "empty NAME") {
		t.Fatalf("--gateway =URL: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}
