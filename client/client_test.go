package client_test

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

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
	"github.com/govgate/govgate/wire"
)

// rig is a gateway as govgate serve builds it (TLCP listener, shipped policy, audit log)
// in front of a provider that echoes what reached it, with a department's pair.
type rig struct {
	ca       *certs.CA
	dept     *certs.Pair
	trust    *tlcp.TrustSource
	url      string // the enterprise route on the TLCP listener
	admin    string // http://admin address
	base     string // https://host:port of the TLCP listener
	plain    string // http://host:port of a plain loopback listener
	auditDir string
	seen     chan *fasthttp.RequestHeader
}

func startRig(t *testing.T) *rig {
	t.Helper()
	ca, err := certs.NewRootCA("client test root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := ca.IssuePair(certs.PairRequest{System: "gw-client-test", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	dept, err := ca.IssuePair(certs.PairRequest{Dept: "110000-shuiwu", System: "tax-sync"})
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
	keyPEM := func(k *crypto.PrivateKey) []byte {
		b, err := crypto.MarshalPrivateKeyPEM(k, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r := &rig{ca: ca, dept: dept, seen: make(chan *fasthttp.RequestHeader, 16), auditDir: filepath.Join(dir, "audit")}
	provider := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		h := new(fasthttp.RequestHeader)
		ctx.Request.Header.CopyTo(h)
		r.seen <- h
		if bulkAnswer(ctx) {
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"uscc":"91110108MA01A2B3C4","name":"北京数联科技有限公司","bank_account":"6222020200112233445"}`)
	}}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go provider.Serve(pln)
	t.Cleanup(func() { provider.Shutdown() })
	yaml := fmt.Sprintf(`gateway_id: gw-client-test
admin: {address: "127.0.0.1:0"}
listeners: [{name: external, address: "127.0.0.1:0", zone: external, transport: tlcp}, {name: local, address: "127.0.0.1:0", zone: internal, transport: plain}]
tlcp: {sign_cert: %q, sign_key: %q, enc_cert: %q, enc_key: %q, client_ca: %q}
audit: {dir: %q, checkpoint_interval: 20ms}
keys: {dir: %q}
routes: [{id: enterprise-query, path_prefix: /enterprise/v1, resource: enterprise.registration, mode: query, pool: registry, target_zone: internal},
  {id: enterprise-exchange, path_prefix: /enterprise/bulk, resource: enterprise.registration, mode: exchange, pool: registry, target_zone: internal}]
pools: [{id: registry, addresses: [%q]}]
`, write("sign.pem", crypto.MarshalCertificatePEM(gw.SignCert), 0o644), write("sign.key", keyPEM(gw.SignKey), 0o600),
		write("enc.pem", crypto.MarshalCertificatePEM(gw.EncCert), 0o644), write("enc.key", keyPEM(gw.EncKey), 0o600),
		write("ca.pem", crypto.MarshalCertificatePEM(ca.Cert), 0o644), r.auditDir, filepath.Join(dir, "keys"), pln.Addr().String())
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
	r.base = "https://" + a.Gateway.ListenerAddr("external").String()
	r.plain = "http://" + a.Gateway.ListenerAddr("local").String()
	r.url = r.base + "/enterprise/v1/companies/91110108MA01A2B3C4"
	r.admin = "http://" + a.Gateway.AdminAddr().String()
	r.trust = trustOf(t, ca)
	return r
}

func trustOf(t *testing.T, ca *certs.CA) *tlcp.TrustSource {
	t.Helper()
	ts, err := tlcp.NewTrustStore([]*smx509.Certificate{ca.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	trust := &tlcp.TrustSource{}
	trust.Store(ts)
	return trust
}

func identityOf(p *certs.Pair) *tlcp.Identity {
	return &tlcp.Identity{SignCert: p.SignCert, SignKey: p.SignKey, EncCert: p.EncCert, EncKey: p.EncKey}
}

func (r *rig) client(t *testing.T, tune func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Identity: identityOf(r.dept), Trust: r.trust, ServerName: "localhost", Timeout: 10 * time.Second}
	if tune != nil {
		tune(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func taxCall(r *rig) client.Request {
	return client.Request{Method: "GET", URL: r.url, Agreement: "AGR-2025-0219", Purpose: "tax-registration"}
}

// TestSignedCallAndReceipt: over TLCP, a signed call is verified by the gateway (the
// provider is told sm2-sm3), released cut to the agreement, and its receipt verifies
// against the gateway's audit API; a receipt changed in transit, or checked against
// another log's keys, does not.
func TestSignedCallAndReceipt(t *testing.T) {
	r := startRig(t)
	c := r.client(t, nil)
	resp, err := c.Do(t.Context(), taxCall(r))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || strings.Contains(string(resp.Body), "6222020200112233445") || resp.RequestID == "" {
		t.Fatalf("%d %s (request id %q)", resp.Status, resp.Body, resp.RequestID)
	}
	h := <-r.seen
	if string(h.Peek(wire.HeaderSigned)) != "sm2-sm3" || string(h.Peek(wire.HeaderConsumerDept)) != "110000-shuiwu" {
		t.Errorf("provider saw signed=%q dept=%q", h.Peek(wire.HeaderSigned), h.Peek(wire.HeaderConsumerDept))
	}
	keys, err := audit.LoadKeySet(filepath.Join(r.auditDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	rc := &client.ReceiptCheck{BaseURL: r.admin, Keys: keys, Wait: 10 * time.Second}
	cp, err := rc.Verify(t.Context(), resp.Receipt)
	if err != nil {
		t.Fatalf("receipt %q: %v", resp.Receipt, err)
	}
	if cp.Origin != "govgate/gw-client-test" {
		t.Errorf("checkpoint of log %q", cp.Origin)
	}
	// Refused: the receipt of another record, the record's digest changed.
	forged := forgeReceipt(t, resp.Receipt)
	if _, err := rc.Verify(t.Context(), forged); err == nil {
		t.Errorf("a changed receipt verified: %s", forged)
	}
	// Refused: the right receipt against keys the log never signed with.
	other, err := audit.NewNoteSigner("govgate/gw-client-test", mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	l, err := audit.Open(audit.Options{Dir: otherDir, Origin: "govgate/gw-client-test", Signer: other, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	otherKeys, err := audit.LoadKeySet(filepath.Join(otherDir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	stranger := &client.ReceiptCheck{BaseURL: r.admin, Keys: otherKeys, Wait: time.Second}
	if _, err := stranger.Verify(t.Context(), resp.Receipt); err == nil {
		t.Error("a receipt verified with keys the log does not use")
	}
}

// forgeReceipt changes the leaf hash a receipt names.
func forgeReceipt(t *testing.T, receipt string) string {
	t.Helper()
	r, err := audit.ParseReceipt(receipt)
	if err != nil {
		t.Fatal(err)
	}
	r.Leaf[0] ^= 1
	return r.String()
}

func mustKey(t *testing.T) *crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestUnsignedCall: an unsigned client's call carries no signature fields and is not
// asserted as signed to the provider.
func TestUnsignedCall(t *testing.T) {
	r := startRig(t)
	c := r.client(t, func(c *client.Config) { c.Unsigned = true })
	resp, err := c.Do(t.Context(), taxCall(r))
	if err != nil || resp.Status != 200 {
		t.Fatalf("%v %+v", err, resp)
	}
	h := <-r.seen
	if len(h.Peek(wire.HeaderSigned)) != 0 || len(h.Peek(wire.HeaderSignature)) != 0 {
		t.Errorf("unsigned call reached the provider as signed=%q signature=%q", h.Peek(wire.HeaderSigned), h.Peek(wire.HeaderSignature))
	}
}

// TestPreparedRequestSentOnce: a prepared (pre-signed) request is the load generator's;
// sent a second time it is a replay, which the gateway refuses before the provider.
func TestPreparedRequestSentOnce(t *testing.T) {
	r := startRig(t)
	c := r.client(t, nil)
	p, err := c.Prepare(taxCall(r))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if resp, err := c.Send(t.Context(), p); err != nil || resp.Status != 200 {
		t.Fatalf("first send: %v %+v", err, resp)
	}
	<-r.seen
	resp, err := c.Send(t.Context(), p)
	if err != nil || resp.Status != 401 || !strings.Contains(string(resp.Body), "signature_replayed") {
		t.Fatalf("second send: %v %+v", err, resp)
	}
	select {
	case <-r.seen:
		t.Error("the replay reached the provider")
	default:
	}
}

// TestDialRefusesAnUntrustedGateway: the client verifies the gateway: a gateway whose
// certificate chains to a CA the client does not trust, or that does not carry the name
// the client expects, is not called.
func TestDialRefusesAnUntrustedGateway(t *testing.T) {
	r := startRig(t)
	otherCA, err := certs.NewRootCA("another root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, tune := range map[string]func(*client.Config){
		"untrusted CA": func(c *client.Config) { c.Trust = trustOf(t, otherCA) },
		"other name":   func(c *client.Config) { c.ServerName = "gateway.example" },
	} {
		c := r.client(t, tune)
		if resp, err := c.Do(t.Context(), taxCall(r)); err == nil {
			t.Errorf("%s: called the gateway: %d", name, resp.Status)
		}
	}
	select {
	case <-r.seen:
		t.Error("a refused dial reached the provider")
	default:
	}
}

// TestNewRefusesABadConfig: a pair whose key is not its certificate's, or no CA to verify
// the gateway with, is refused before any call.
func TestNewRefusesABadConfig(t *testing.T) {
	ca, err := certs.NewRootCA("root", "govgate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ca.IssuePair(certs.PairRequest{Dept: "110000-shuiwu", System: "a"})
	b, _ := ca.IssuePair(certs.PairRequest{Dept: "110000-shuiwu", System: "b"})
	mixed := identityOf(a)
	mixed.SignKey = b.SignKey
	if _, err := client.New(client.Config{Identity: mixed, Trust: trustOf(t, ca)}); err == nil {
		t.Error("a signing key that is not the certificate's was accepted")
	}
	if _, err := client.New(client.Config{Identity: identityOf(a)}); err == nil {
		t.Error("a client without a CA to verify the gateway was accepted")
	}
	if _, err := client.New(client.Config{Identity: identityOf(a), Trust: &tlcp.TrustSource{}}); err == nil {
		t.Error("a client with an empty trust source was accepted")
	}
}
