package assemble

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/testpki"
)

// testPKI is what a cryptography administrator leaves on disk for a gateway: a CA, the
// gateway's TLCP pair (files), and a department's pair for the client.
type testPKI struct {
	dir  string
	ca   *certs.CA
	dept *certs.Pair
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := certs.NewRootCA("assemble test root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), ca: ca}
	gw, err := ca.IssuePair(certs.PairRequest{System: "gw-assemble", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.dept, err = ca.IssuePair(certs.PairRequest{Dept: "110000-shuiwu", System: "tax-sync"}); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(p.dir, name), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", crypto.MarshalCertificatePEM(ca.Cert), 0o644)
	write("sign.pem", crypto.MarshalCertificatePEM(gw.SignCert), 0o644)
	write("enc.pem", crypto.MarshalCertificatePEM(gw.EncCert), 0o644)
	for name, k := range map[string]*crypto.PrivateKey{"sign.key": gw.SignKey, "enc.key": gw.EncKey} {
		b, err := crypto.MarshalPrivateKeyPEM(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		write(name, b, 0o600)
	}
	return p
}

func (p *testPKI) path(name string) string { return filepath.Join(p.dir, name) }

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// exampleConfig is examples/govgate.yaml's shape: a TLCP listener, the shipped policy,
// the audit log with its key in the file key store, a route to a provider.
func exampleConfig(t *testing.T, p *testPKI, listen, admin, provider string) *gateway.Config {
	t.Helper()
	state := t.TempDir()
	yaml := fmt.Sprintf(`gateway_id: gw-assemble-01
admin: {address: %q}
listeners:
  - {name: external, address: %q, zone: external, transport: tlcp}
tlcp: {sign_cert: %q, sign_key: %q, enc_cert: %q, enc_key: %q, client_ca: %q}
policy: {cache_size: 100}
audit: {dir: %q, checkpoint_interval: 50ms}
keys: {backend: file, dir: %q, poll_interval: 50ms}
routes:
  - {id: enterprise-query, path_prefix: /enterprise/v1, resource: enterprise.registration, mode: query, pool: enterprise-registry, target_zone: internal, timeout: 5s}
pools:
  - {id: enterprise-registry, addresses: [%q]}
`, admin, listen, p.path("sign.pem"), p.path("sign.key"), p.path("enc.pem"), p.path("enc.key"), p.path("ca.pem"),
		filepath.Join(state, "audit"), filepath.Join(state, "keys"), provider)
	cfg, err := gateway.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// enterpriseRecord is what the provider answers: more fields than the agreement releases.
const enterpriseRecord = `{"uscc":"91110108MA01A2B3C4","name":"北京数联科技有限公司","legal_representative":"陈明","bank_account":"6222020200112233445"}`

// TestBuildServesARealExchange: the gateway the assembly builds from an example config
// serves a signed TLCP exchange under the shipped policy, cuts the response to the
// agreement's fields, records it (the receipt verifies against the admin API) and serves
// GET /certs; a department without an agreement is refused; after Shutdown and Close the
// addresses are free again.
func TestBuildServesARealExchange(t *testing.T) {
	p := newTestPKI(t)
	pln := startProvider(t)
	listen, admin := freeAddr(t), freeAddr(t)
	cfg := exampleConfig(t, p, listen, admin, pln.Addr().String())
	a, err := Build(t.Context(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	g := a.Gateway
	if err := g.Start(); err != nil {
		a.Close()
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	}
	defer stop()

	trust := &tlcp.TrustSource{}
	ts, err := tlcp.NewTrustStore([]*smx509.Certificate{p.ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	trust.Store(ts)
	call := func(pair *certs.Pair, agreement string) (*client.Response, error) {
		c, err := client.New(client.Config{Identity: &tlcp.Identity{SignCert: pair.SignCert, SignKey: pair.SignKey, EncCert: pair.EncCert, EncKey: pair.EncKey},
			Trust: trust, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Do(t.Context(), client.Request{Method: "GET", URL: "https://" + listen + "/enterprise/v1/companies/91110108MA01A2B3C4",
			Agreement: agreement, Purpose: "tax-registration"})
	}
	resp, err := call(p.dept, "AGR-2025-0219")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || !strings.Contains(string(resp.Body), "北京数联科技有限公司") || strings.Contains(string(resp.Body), "6222020200112233445") {
		t.Fatalf("allowed exchange: %d %s", resp.Status, resp.Body)
	}
	if resp.Receipt == "" {
		t.Fatal("an exchange through the built gateway carries no receipt")
	}
	stranger, err := p.ca.IssuePair(certs.PairRequest{Dept: "990000-unknown", System: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := call(stranger, ""); err != nil || resp.Status != 403 || resp.Receipt == "" {
		t.Errorf("a department without an agreement: %v %+v", err, resp)
	}
	// The admin API carries the parts' endpoints: the certificates held.
	status, body, err := fasthttp.Get(nil, "http://"+admin+"/certs")
	if err != nil || status != 200 || !strings.Contains(string(body), `"role": "tlcp-sign"`) {
		t.Errorf("GET /certs: %v %d %s", err, status, body)
	}
	stop()
	for _, addr := range []string{listen, admin} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still bound after Shutdown and Close: %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// TestBuildFailureReleasesWhatWasBuilt makes each part's construction fail in turn, after
// the parts before it were built, and asserts that Build returns the error and leaves
// nothing running: no goroutine (watchers, the ACME manager's certificate maintenance, the
// audit log's committer), no listener bound.
func TestBuildFailureReleasesWhatWasBuilt(t *testing.T) {
	p := newTestPKI(t)
	ecCA := filepath.Join(testpki.NewEC(t).Dir, "ca.pem")
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// withACME adds a tls listener whose certificate comes from ACME (an unreachable
	// directory: the manager runs, retrying), its clients checked against clientCA.
	withACME := func(caFile, clientCA string) func(*gateway.Config) {
		return func(c *gateway.Config) {
			c.Listeners = append(c.Listeners, gateway.Listener{Name: "tls", Address: freeAddr(t), Zone: gateway.ZoneExternal, Transport: gateway.TransportTLS})
			c.TLS.ClientCA = clientCA
			c.TLS.ACME = gateway.ACME{DirectoryURL: "https://127.0.0.1:1/directory", StorageDir: t.TempDir(), Domains: []string{"localhost"}, CAFile: caFile}
		}
	}
	both := func(fs ...func(*gateway.Config)) func(*gateway.Config) {
		return func(c *gateway.Config) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	cases := []struct {
		name  string
		tune  func(*gateway.Config)
		fails string
	}{
		{"key store", func(c *gateway.Config) { c.Keys.Dir = filepath.Join(notADir, "keys") }, "build key store"},
		{"tlcp files", func(c *gateway.Config) { c.TLCP.SignCert = p.path("missing.pem") }, "build tlcp"},
		{"acme ca file", withACME(p.path("missing-ca.pem"), ecCA), "build tls"},
		// An SM2 CA is not one Go's TLS reads: the transport fails with ACME running.
		{"tls client ca after acme", withACME(ecCA, p.path("ca.pem")), "build tls"},
		{"policy dir", both(withACME(ecCA, ecCA), func(c *gateway.Config) { c.Policy.Dir = p.path("no-policy") }), "build policy"},
		{"audit dir", both(withACME(ecCA, ecCA), func(c *gateway.Config) { c.Audit.Dir = filepath.Join(notADir, "audit") }), "build audit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// certmagic's lock keeper sleeps 5 s between looks at its lock file and ends at
			// the first look after the lock is gone; that the ACME manager let go of its locks
			// is asserted below instead.
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"))
			cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), "127.0.0.1:1")
			c.tune(cfg)
			a, err := Build(t.Context(), cfg, Options{Logger: quiet})
			if err == nil {
				a.Close()
				t.Fatalf("built; want a failure in %s", c.fails)
			}
			if !strings.Contains(err.Error(), c.fails) {
				t.Fatalf("error %v; want it from %s", err, c.fails)
			}
			addrs := []string{cfg.Admin.Address}
			for _, l := range cfg.Listeners {
				addrs = append(addrs, l.Address)
			}
			for _, addr := range addrs {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("%s bound after a failed build: %v", addr, err)
					continue
				}
				ln.Close()
			}
			if dir := cfg.TLS.ACME.StorageDir; dir != "" {
				waitFor(t, "the ACME manager to release its locks", func() bool {
					locks, _ := filepath.Glob(filepath.Join(dir, "locks", "*.lock"))
					return len(locks) == 0
				})
			}
		})
	}
}

// startBuilt builds cfg's gateway, starts it, and shuts it down and closes it when the test
// ends; a close that fails fails the test.
func startBuilt(t *testing.T, cfg *gateway.Config, log *slog.Logger) *Assembly {
	t.Helper()
	a, err := Build(t.Context(), cfg, Options{Logger: log})
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
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return a
}

// waitFor polls cond until it holds, failing the test if it does not within 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// startProvider serves the enterprise record as a provider would, until the test ends.
func startProvider(t *testing.T) net.Listener {
	t.Helper()
	provider := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetBodyString(enterpriseRecord)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go provider.Serve(ln)
	t.Cleanup(func() { provider.Shutdown() })
	return ln
}
