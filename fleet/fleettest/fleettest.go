// Package fleettest starts, for tests, real gateways (the assembly, a plain loopback
// listener, an audit log, the policy from a signed bundle) whose admin APIs a fleet view
// reads.
package fleettest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

// TLCPFiles are a gateway's TLCP pair and client CA files; with them the admin API speaks
// TLCP and asks for role certificates.
type TLCPFiles struct {
	SignCert, SignKey, EncCert, EncKey, ClientCA string
}

// StartGateway builds and starts a real gateway (plain loopback listener, audit log,
// policy from the bundle at url) and returns its admin API's base URL.
func StartGateway(t testing.TB, id, url, signersCA string) string {
	return StartGatewayWith(t, id, url, signersCA, nil)
}

// StartGatewayWith is StartGateway with, when tf is set, a TLCP admin API (base URL
// https://127.0.0.1:PORT) and a TLCP listener. Only a plain gateway is sent an exchange
// and waited for until it has signed a checkpoint.
func StartGatewayWith(t testing.TB, id, url, signersCA string, tf *TLCPFiles) string {
	t.Helper()
	return StartGatewayOpts(t, id, url, signersCA, Options{TLCP: tf})
}

// Options are the parts of a test gateway a fleet test varies.
type Options struct {
	TLCP *TLCPFiles
	// Redis is the address of the shared state's Redis (on_failure local for replay and
	// quota, so that an outage degrades the gateway and leaves it ready); "" for none.
	Redis string
	// KeysDir is the file key store's directory; default one of the gateway's own.
	KeysDir string
	// CheckpointInterval of the audit log; default 50ms.
	CheckpointInterval time.Duration
	// KeyPoll is keys.poll_interval; default 100ms.
	KeyPoll time.Duration
}

// StartGatewayOpts is StartGateway with the options o.
func StartGatewayOpts(t testing.TB, id, url, signersCA string, o Options) string {
	t.Helper()
	tf := o.TLCP
	state, admin, listen := t.TempDir(), redistest.FreeAddr(t), redistest.FreeAddr(t)
	if o.KeysDir == "" {
		o.KeysDir = filepath.Join(state, "keys")
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 50 * time.Millisecond
	}
	if o.KeyPoll == 0 {
		o.KeyPoll = 100 * time.Millisecond
	}
	extra := ""
	if o.Redis != "" {
		extra += fmt.Sprintf("shared: {redis: {addrs: [%q], timeout: 200ms, dial_timeout: 200ms}, on_failure: {replay: local, quota: local}}\n", o.Redis)
	}
	adminYAML, scheme, transport := fmt.Sprintf("admin: {address: %q}\n", admin), "http://", "plain"
	if tf != nil {
		adminYAML = fmt.Sprintf("admin: {address: %q, tlcp: true}\ntlcp: {sign_cert: %q, sign_key: %q, enc_cert: %q, enc_key: %q, client_ca: %q}\n",
			admin, tf.SignCert, tf.SignKey, tf.EncCert, tf.EncKey, tf.ClientCA)
		scheme, transport = "https://", "tlcp" // the admin API's TLCP is the listeners'

	}
	yaml := fmt.Sprintf(`gateway_id: %s
%slisteners:
  - {name: external, address: %q, zone: external, transport: %s}
policy:
  bundle: {url: %q, poll_interval: 1s, signers_ca: [%q], persist_dir: %q, audience: %q}
audit: {dir: %q, checkpoint_interval: %s}
keys: {backend: file, dir: %q, poll_interval: %s}
%s
routes:
  - {id: enterprise-query, path_prefix: /enterprise/v1, resource: enterprise.registration, mode: query, pool: enterprise-registry, target_zone: internal, timeout: 5s}
pools:
  - {id: enterprise-registry, addresses: ["127.0.0.1:1"]}
`, id, adminYAML, listen, transport, url, signersCA, filepath.Join(state, "bundle"), bundletest.Audience, filepath.Join(state, "audit"), o.CheckpointInterval, o.KeysDir, o.KeyPoll, extra)
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
	if tf != nil {
		return scheme + admin
	}
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
