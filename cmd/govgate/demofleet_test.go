package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoFleet runs `govgate demo --fleet` on free ports: both gateways serve the signed
// bundle, `fleet status` agrees, and a bundle built and signed with the printed commands
// goes live on both.
func TestDemoFleet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--fleet", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--listen2", "127.0.0.1:0", "--admin2", "127.0.0.1:0", "--data-dir", dir}, &out, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("demo --fleet exited %d: %s", code, errOut.String())
		}
	}()
	re := regexp.MustCompile(`admin http://(127\.0\.0\.1:\d+)`)
	var admins []string
	for deadline := time.Now().Add(60 * time.Second); len(admins) < 2; time.Sleep(50 * time.Millisecond) {
		for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
			admins = append(admins, m[1])
		}
		if len(admins) < 2 {
			admins = nil
			if time.Now().After(deadline) {
				t.Fatalf("demo --fleet did not start:\n%s\n%s", out.String(), errOut.String())
			}
		}
	}
	if !strings.Contains(out.String(), "shared state:") {
		t.Fatalf("no shared-state line:\n%s", out.String())
	}
	bundleRevision := func(admin string) string {
		resp, err := http.Get("http://" + admin + "/policy")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Bundle struct {
				Revision string `json:"bundle_revision"`
			} `json:"bundle"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return v.Bundle.Revision
	}
	for _, a := range admins {
		if r := bundleRevision(a); r != "demo-1" {
			t.Fatalf("%s: bundle %q, want demo-1", a, r)
		}
	}
	gwArgs := []string{"fleet", "status", "--gateway", "http://" + admins[0], "--gateway", "http://" + admins[1]}
	if code, o, e := runCmd(t, gwArgs...); code != exitOK {
		t.Fatalf("fleet status on the demo: %d\n%s%s", code, o, e)
	}
	if code, o, e := runCmd(t, "policy", "build", dir+"/policy", "--out", dir+"/bundles/bundle.tar.gz", "--revision", "demo-2"); code != 0 {
		t.Fatalf("policy build: %s %s", o, e)
	}
	if code, o, e := runCmd(t, "policy", "sign", dir+"/bundles/bundle.tar.gz", "--cert", dir+"/officer-sign-fullchain.pem", "--key", dir+"/officer-sign.key", "--audience", demoFleetAudience); code != 0 {
		t.Fatalf("policy sign: %s %s", o, e)
	}
	for _, a := range admins {
		for deadline := time.Now().Add(20 * time.Second); bundleRevision(a) != "demo-2"; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not take demo-2", a)
			}
		}
	}
}
