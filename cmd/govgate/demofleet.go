package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
	"github.com/govgate/govgate/internal/redisproc"
	"github.com/govgate/govgate/policy/bundle"
	shipped "github.com/govgate/govgate/rego"
)

// demoFleetOptions are `govgate demo --fleet`'s settings, from demo's flags.
type demoFleetOptions struct {
	dataDir string
	listen  [2]string // the two gateways' TLCP listeners
	admin   [2]string
	log     *slog.Logger
}

// demoOfficer is the file prefix of the demo's security officer's pair.
const demoOfficer = "officer"

// runDemoFleet runs the fleet demo: redis-server (if on PATH), a bundle server with a
// signed bundle of the shipped policy, the providers, and two gateways polling the bundle,
// until a signal or ctx ends.
func runDemoFleet(ctx context.Context, o demoFleetOptions, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	pki, err := ensureDemoPKI(ctx, o.dataDir)
	if err != nil {
		return err
	}
	if err := ensureDemoOfficer(pki); err != nil {
		return err
	}
	bundles := pki.path("bundles")
	if err := publishDemoBundle(pki, bundles, "demo-1"); err != nil {
		return err
	}
	bsrv, bundleURL, err := startBundleServer(bundles)
	if err != nil {
		return err
	}
	defer bsrv.Close()

	redisNote := "redis-server not found on PATH: the gateways run without shared state (each keeps its own replay cache and quotas)"
	var redisAddr string
	if rs, err := redisproc.Start(ctx, o.dataDir); err == nil {
		defer rs.Stop()
		redisAddr = rs.Addr
		redisNote = "redis-server " + rs.Addr + " (shared replay cache and quotas)"
	} else if !errors.Is(err, redisproc.ErrNotFound) {
		return err
	}

	providers, err := startDemoProviders()
	if err != nil {
		return err
	}
	defer providers.close()

	var gws []*assemble.Assembly
	defer func() {
		for _, a := range gws {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			a.Gateway.Shutdown(sctx)
			cancel()
			a.Close()
		}
	}()
	for i := range 2 {
		cfg, err := demoFleetConfig(i, o, providers, pki, bundleURL)
		if err != nil {
			return err
		}
		if redisAddr != "" {
			if err := withSharedState(cfg, redisAddr); err != nil {
				redisNote = fmt.Sprintf("redis-server %s is running, but %v", redisAddr, err)
			}
		}
		// One after the other: the first creates the audit signing key in the shared key
		// store, the second finds it.
		a, err := assemble.Build(ctx, cfg, assemble.Options{Logger: o.log.With("gateway", cfg.GatewayID)})
		if err != nil {
			return err
		}
		if err := a.Gateway.Start(); err != nil {
			a.Close()
			return err
		}
		gws = append(gws, a)
	}
	printDemoFleetHelp(stdout, gws, pki, bundleURL, redisNote)
	<-ctx.Done()
	return nil
}

// demoFleetAudience is the demo fleet's name: its gateways' policy.bundle.audience, and
// what the demo's bundles are signed for.
const demoFleetAudience = "demo-fleet"

// demoFleetConfig is the demo's config for gateway i (gw-demo-01, gw-demo-02): its own
// listener, admin API and audit log; the policy from the bundle server.
func demoFleetConfig(i int, o demoFleetOptions, p *demoProviders, pki *demoPKI, bundleURL string) (*gateway.Config, error) {
	cfg, err := demoGatewayConfig(o.listen[i], o.admin[i], p, pki)
	if err != nil {
		return nil, err
	}
	cfg.GatewayID = fmt.Sprintf("gw-demo-%02d", i+1)
	cfg.Audit.Dir = pki.path(fmt.Sprintf("audit-%02d", i+1))
	cfg.Audit.Origin = "govgate/" + cfg.GatewayID
	cfg.Policy.Bundle = &gateway.PolicyBundle{URL: bundleURL, PollInterval: 2 * time.Second, SignersCA: []string{pki.path("ca/ca.pem")},
		PersistDir: pki.path(fmt.Sprintf("policy-bundle-%02d", i+1)), Audience: demoFleetAudience}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo fleet config: %w", err)
	}
	return cfg, nil
}

// withSharedState points cfg at the demo's Redis: replay claims and quotas shared by
// both gateways, refused while Redis cannot answer (the production defaults).
func withSharedState(cfg *gateway.Config, redisAddr string) error {
	cfg.Shared.Redis.Addrs = []string{redisAddr}
	cfg.Shared.Redis.Mode = gateway.RedisStandalone
	cfg.Shared.OnFailure.Replay = gateway.OnFailureRefuse
	cfg.Shared.OnFailure.Quota = gateway.OnFailureRefuse
	return cfg.Validate()
}

// ensureDemoOfficer issues the demo's security officer (urn:govgate:role:security-officer)
// from the demo CA, once.
func ensureDemoOfficer(pki *demoPKI) error {
	if _, err := os.Stat(certs.PairFile(pki.dir, demoOfficer, "sign", certs.KeySuffix)); err == nil {
		return nil
	}
	ca, err := certs.OpenDir(pki.path("ca"), nil)
	if err != nil {
		return err
	}
	pair, err := ca.Issue(certs.PairRequest{System: "policy-officer", Dept: "110000-anquan", Roles: []string{bundle.SignerRole}})
	if err != nil {
		return err
	}
	return ca.WritePairFiles(pki.dir, demoOfficer, pair, nil)
}

// publishDemoBundle builds the shipped policy into dir/bundle.tar.gz with revision and
// signs it as the demo's officer.
func publishDemoBundle(pki *demoPKI, dir, revision string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := filepath.Join(pki.dir, "policy")
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		if err := shipped.WriteTo(src); err != nil {
			return err
		}
	}
	b, err := bundle.BuildDir(src, revision)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "bundle.tar.gz")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	_, err = bundle.SignFile(out, certs.PairFile(pki.dir, demoOfficer, "sign", certs.FullchainSuffix),
		certs.PairFile(pki.dir, demoOfficer, "sign", certs.KeySuffix), demoFleetAudience, nil, time.Now())
	return err
}

// startBundleServer serves dir on loopback and returns the bundle's URL.
func startBundleServer(dir string) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: &bundle.Server{Dir: dir}, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String() + "/bundle.tar.gz", nil
}

func printDemoFleetHelp(w io.Writer, gws []*assemble.Assembly, pki *demoPKI, bundleURL, redisNote string) {
	var gw, adm [2]string
	for i, a := range gws {
		_, port, _ := net.SplitHostPort(a.Gateway.ListenerAddr("external").String())
		gw[i], adm[i] = "https://localhost:"+port, a.Gateway.AdminAddr().String()
	}
	d := demoDepartments()[0]
	call := fmt.Sprintf("go run ./cmd/govgate call --ca %s --cert %s,%s --key %s,%s",
		pki.path("ca/ca.pem"), certs.PairFile(pki.dir, d.file, "sign", certs.FullchainSuffix), certs.PairFile(pki.dir, d.file, "enc", certs.FullchainSuffix),
		certs.PairFile(pki.dir, d.file, "sign", certs.KeySuffix), certs.PairFile(pki.dir, d.file, "enc", certs.KeySuffix))
	officer := fmt.Sprintf("--audience "+demoFleetAudience+" --cert %s --key %s", certs.PairFile(pki.dir, demoOfficer, "sign", certs.FullchainSuffix), certs.PairFile(pki.dir, demoOfficer, "sign", certs.KeySuffix))
	fmt.Fprintf(w, `
govgate demo --fleet is running.

  gateway gw-demo-01:  %[1]s   admin http://%[3]s
  gateway gw-demo-02:  %[2]s   admin http://%[4]s
  bundle server:       %[5]s (signed by the demo's security officer; polled every 2s)
  shared state:        %[6]s
  demo data:           %[7]s

Try:
  # the fleet at a glance: one policy revision and its signer on both gateways
  go run ./cmd/govgate fleet status --gateway gw-demo-01=http://%[3]s --gateway gw-demo-02=http://%[4]s
  # publish a new policy revision once: build, sign as the officer; both gateways take it
  # within the poll interval (run fleet status again; /policy names the bundle and signer)
  go run ./cmd/govgate policy build %[7]s/policy --out %[7]s/bundles/bundle.tar.gz --revision demo-2
  go run ./cmd/govgate policy sign %[7]s/bundles/bundle.tar.gz %[8]s
  curl -s http://%[3]s/policy; curl -s http://%[4]s/policy
  # policy sign refuses a certificate without the security-officer role, and so does every
  # gateway (a bundle changed after signing too): the live revision keeps serving
  # the same department on both gateways: with shared state, a quota counts both
  # gateways' requests, and the same signed request (same nonce) sent to the other
  # gateway is refused with 401 signature_replayed (govgate call signs each request
  # anew; gateway/assemble's TestFleetReplayToTheTwinIsRefused replays captured bytes)
  %[9]s '%[1]s/population/v1/persons?id=110101199003077777'
  %[9]s '%[2]s/population/v1/persons?id=110101199003077777'
  # readiness, with the shared state's health
  curl -s http://%[3]s/readyz; curl -s http://%[4]s/readyz

Stop with Ctrl-C.
`, gw[0], gw[1], adm[0], adm[1], bundleURL, redisNote, pki.dir, officer, call)
}
