package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/internal/vaulttest"
)

// TestDemoWithVault runs the demo with its keys in a real Vault: the gateway's pair and the
// audit key live there, a call is served, and a pair rotated into Vault is picked up.
func TestDemoWithVault(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("VAULT_TOKEN", v.Token)
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", dir, "--vault-addr", v.Addr}, &out, &errOut)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("demo did not stop")
		}
	}()
	base := ""
	deadline := time.Now().Add(20 * time.Second)
	for base == "" {
		if m := regexp.MustCompile(`(https://localhost:\d+)/population`).FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("demo did not start:\n%s\n%s", out.String(), errOut.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !strings.Contains(out.String(), "--vault-addr "+v.Addr+" --vault-prefix govgate/gw-demo-01") {
		t.Errorf("the demo does not print the Vault rotation command:\n%s", out.String())
	}
	call := func() string {
		t.Helper()
		var o, e bytes.Buffer
		args := []string{"call", "-i", "--ca", dir + "/ca/ca.pem", "--cert", dir + "/rensheju-sign-fullchain.pem," + dir + "/rensheju-enc-fullchain.pem",
			"--key", dir + "/rensheju-sign.key," + dir + "/rensheju-enc.key", base + "/population/v1/persons?id=110101199003077777"}
		if code := run(ctx, args, &o, &e); code != 0 {
			t.Fatalf("call: %d %s %s", code, o.String(), e.String())
		}
		return o.String()
	}
	if out := call(); !strings.Contains(out, "张伟") {
		t.Fatalf("call: %s", out)
	}
	code, list, lerr := runCmd(t, "keys", "list", "--vault-addr", v.Addr, "--vault-prefix", "govgate/gw-demo-01")
	if code != 0 || !strings.Contains(list, "tlcp-sign") || !strings.Contains(list, "audit-signing") {
		t.Fatalf("keys list in Vault: %d %s %s", code, list, lerr)
	}
	if code, o, e := runCmd(t, "certs", "rotate", "--ca", dir+"/ca", "--vault-addr", v.Addr, "--vault-prefix", "govgate/gw-demo-01", "--system", "gw-demo-01", "--dns", "localhost"); code != 0 || !strings.Contains(o, "tlcp-sign version 2") {
		t.Fatalf("certs rotate into Vault: %d %s %s", code, o, e)
	}
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(errOut.String(), "new TLCP certificate pair in use") {
		if time.Now().After(deadline) {
			t.Fatalf("the pair rotated in Vault was not picked up:\n%s", errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	call()
}
