package gateway_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
)

func tlcpIdentity(p *certs.Pair) *tlcp.Identity {
	return &tlcp.Identity{SignCert: p.SignCert, SignKey: p.SignKey, EncCert: p.EncCert, EncKey: p.EncKey}
}

// startTLCPGateway runs a gateway whose "ext" listener speaks TLCP, and returns a client
// for department 110000-rensheju, its config changed by tune if given.
func startTLCPGateway(t *testing.T, cfg *Config, unsigned bool, tune ...func(*client.Config)) (*testGateway, *client.Client) {
	t.Helper()
	ca, err := certs.NewRootCA("test root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gwPair, _ := ca.IssuePair(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	deptPair, _ := ca.IssuePair(certs.PairRequest{Dept: "110000-rensheju", System: "social-insurance-check"})
	trust := &tlcp.TrustSource{}
	ts, err := tlcp.NewTrustStore([]*smx509.Certificate{ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	trust.Store(ts)
	ids := &tlcp.IdentitySource{}
	if err := ids.Store(tlcpIdentity(gwPair)); err != nil {
		t.Fatal(err)
	}
	cfg.Listeners[0].Transport = TransportTLCP
	// The files are the command's to load; this test hands the loaded identity over directly.
	cfg.TLCP = TLCP{SignCert: "s.pem", SignKey: "s.key", EncCert: "e.pem", EncKey: "e.key", ClientCA: "ca.pem"}
	cfg.ApplyDefaults()
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000),
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: ids, Trust: trust}},
	}})
	cc := client.Config{Identity: tlcpIdentity(deptPair), Trust: trust, ServerName: "localhost", Unsigned: unsigned}
	for _, f := range tune {
		f(&cc)
	}
	c, err := client.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	gw.base = "https://" + gw.ListenerAddr("ext").String()
	return gw, c
}

func TestTLCPIdentityAndSignatureReachTheProvider(t *testing.T) {
	up := startUpstream(t, nil)
	gw, c := startTLCPGateway(t, testConfig(up.addr), false)
	resp, err := c.Do(context.Background(), client.Request{Method: "POST", URL: gw.base + "/population/v1/persons?id=1", Body: []byte(`{"q":1}`), Agreement: "AGR-2026-0042", Purpose: "social-insurance-check"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	e := decodeEcho(t, resp.Body)
	if e.Headers["x-govgate-consumer-dept"] != "110000-rensheju" || e.Headers["x-govgate-consumer-system"] != "social-insurance-check" || e.Headers["x-govgate-signed"] != "sm2-sm3" {
		t.Errorf("provider saw %v", e.Headers)
	}
	if e.Headers["x-forwarded-proto"] != "https" {
		t.Errorf("X-Forwarded-Proto %q", e.Headers["x-forwarded-proto"])
	}
	// Keep-alive: a second request on the pooled connection.
	if resp, err := c.Do(context.Background(), client.Request{URL: gw.base + "/population/v1/persons"}); err != nil || resp.Status != 200 {
		t.Fatalf("second request: %v %v", err, resp)
	}
}

func TestTLCPSignatureRequiredAndChecked(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Routes[0].RequireSignature = true
	gw, unsigned := startTLCPGateway(t, cfg, true)

	resp, err := unsigned.Do(context.Background(), client.Request{URL: gw.base + "/population/v1/persons"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 401 || errorCode(t, resp.Body) != "signature_required" {
		t.Fatalf("unsigned: %d %s", resp.Status, resp.Body)
	}
	forged := map[string]string{
		"Signature-Input": `govgate=("@method" "@authority" "@path" "@query" "content-digest" "x-govgate-agreement" "x-govgate-purpose");created=` + strconv.FormatInt(time.Now().Unix(), 10) + `;nonce="n1";keyid="01";alg="sm2-sm3"`,
		"Signature":       "govgate=:MEUCIQDdZXbX0HNo0N7lhBqWcKuvqT8jGpwNAAAAAAAAAAAAAAIgQ2pRz6lF4PkX9nCmp6vjVzcxP5pFEcN2GvDKl3EoYqI=:",
		"Content-Digest":  "sm3=:AAAA:",
	}
	resp, err = unsigned.Do(context.Background(), client.Request{URL: gw.base + "/population/v1/persons", Header: forged})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 401 {
		t.Fatalf("forged signature: %d %s", resp.Status, resp.Body)
	}
	if up.hits.Load() != 0 {
		t.Error("an unsigned or forged request reached the provider")
	}
}

// TestClientMaxConnsBoundsItsConnections: a client allowed two connections sends sixteen
// requests at once to a provider that takes 50 ms each; every one is answered, over no
// more than two connections, so the last cannot be answered before eight rounds.
func TestClientMaxConnsBoundsItsConnections(t *testing.T) {
	up := startUpstream(t, nil)
	up.delay.Store(int64(50 * time.Millisecond))
	gw, c := startTLCPGateway(t, testConfig(up.addr), true, func(cc *client.Config) { cc.MaxConns = 2 })
	start := time.Now()
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			resp, err := c.Do(context.Background(), client.Request{Method: "GET", URL: gw.base + "/population/v1/persons?id=1"})
			if err == nil && resp.Status != 200 {
				err = fmt.Errorf("status %d", resp.Status)
			}
			errs <- err
		}()
	}
	peak := 0
	for done := 0; done < 16; {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
			done++
		case <-time.After(5 * time.Millisecond):
			_, _, metrics := do(t, "GET", gw.admin+"/metrics", "", nil)
			peak = max(peak, int(metricValue(t, metrics, `govgate_open_connections{listener="ext"}`)))
		}
	}
	if took := time.Since(start); peak > 2 || took < 8*50*time.Millisecond {
		t.Errorf("16 requests of 50 ms with MaxConns 2: at most %d connections open, done in %v", peak, took)
	}
	if peak == 0 {
		t.Error("no connection was seen open")
	}
}
