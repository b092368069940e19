// Package fleettest starts, for tests, real gateways (the assembly, a plain loopback
// listener, an audit log, the policy from a signed bundle) whose admin APIs a fleet view
// reads.
package fleettest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
)

// FreeAddr is a loopback address nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartGateway builds and starts a real gateway (plain loopback listener, audit log,
// policy from the bundle at url) and returns its admin API's base URL.
func StartGateway(t testing.TB, id, url, signersCA string) string {
	t.Helper()
	state, admin, listen := t.TempDir(), FreeAddr(t), FreeAddr(t)
	yaml := fmt.Sprintf(`gateway_id: %s
admin: {address: %q}
listeners:
  - {name: external, address: %q, zone: external, transport: plain}
policy:
  bundle: {url: %q, poll_interval: 1s, signers_ca: [%q]}
audit: {dir: %q, checkpoint_interval: 50ms}
keys: {backend: file, dir: %q}
routes:
  - {id: enterprise-query, path_prefix: /enterprise/v1, resource: enterprise.registration, mode: query, pool: enterprise-registry, target_zone: internal, timeout: 5s}
pools:
  - {id: enterprise-registry, addresses: ["127.0.0.1:1"]}
`, id, admin, listen, url, signersCA, filepath.Join(state, "audit"), filepath.Join(state, "keys"))
	cfg, err := gateway.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := assemble.Build(t.Context(), cfg, assemble.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Gateway.Start(); err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Gateway.Shutdown(ctx)
		a.Close()
	})
	// One exchange (refused: nobody is authenticated on plain HTTP) is audited, and the
	// log signs a checkpoint over it.
	if resp, err := http.Get("http://" + listen + "/enterprise/v1/companies"); err == nil {
		resp.Body.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + admin + "/audit/checkpoint")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint signed")
		}
	}
	return "http://" + admin
}
