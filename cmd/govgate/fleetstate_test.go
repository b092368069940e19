package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/fleet"
	"github.com/govgate/govgate/fleet/fleettest"
	"github.com/govgate/govgate/keys"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TestFleetStatusKeyVersions: two real gateways on one key store print their key
// versions and shared-state health; after a rotation that only one of them takes up,
// `fleet status --key-grace 1ns` exits 1 naming key_version and the gateway behind, and
// --key-grace 1h (a rotation still reaching the fleet) exits 0.
func TestFleetStatusKeyVersions(t *testing.T) {
	pki := bundletest.NewPKI(t, "officers root")
	srv := bundletest.NewServer(t)
	one := bundletest.Build(t, "one")
	srv.Publish(t, one, pki.Officer(t).Sign(t, one))
	dir := filepath.Join(t.TempDir(), "keys")
	a := fleettest.StartGatewayOpts(t, "gw-a", srv.URL, pki.CAFile, fleettest.Options{KeysDir: dir})
	b := fleettest.StartGatewayOpts(t, "gw-b", srv.URL, pki.CAFile, fleettest.Options{KeysDir: dir, KeyPoll: time.Hour})
	args := []string{"fleet", "status", "--gateway", "gw-a=" + a, "--gateway", "gw-b=" + b, "--stale", "1h"}

	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), append(args, "--key-grace", "1ns"), &stdout, &stderr); code != exitOK ||
		!strings.Contains(stdout.String(), "audit-signing") || !strings.Contains(stdout.String(), "in use v1") || !strings.Contains(stdout.String(), "shared     none") {
		t.Fatalf("before the rotation: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	store, err := keys.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.PutNewSM2Key(t.Context(), store, "audit-signing", nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		stdout.Reset()
		code := run(t.Context(), append(args, "--key-grace", "1ns"), &stdout, &stderr)
		if code == exitFailure && strings.Contains(stdout.String(), fleet.KindKeyVersion+"      gw-b") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rotation: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	}
	if strings.Contains(stdout.String(), fleet.KindKeyVersion+"      gw-a") {
		t.Fatalf("the gateway on the new version flagged:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := run(t.Context(), append(args, "--key-grace", "1h"), &stdout, &stderr); code != exitOK {
		t.Fatalf("--key-grace 1h: exit %d\n%s", code, stdout.String())
	}
}
