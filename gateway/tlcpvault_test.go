package gateway_test

import (
	"context"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/assemble"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/prometheus/client_golang/prometheus"

	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/internal/vaulttest"
	"github.com/govgate/govgate/keys"
)

// TestTLCPPairFromVault: the gateway starts from its pair in Vault; a new version is
// picked up at the next poll while an open keep-alive connection keeps working and a new
// connection sees the new certificate; a malformed version is refused; with Vault stopped
// traffic goes on with the cached pair and /readyz and the metrics say so.
func TestTLCPPairFromVault(t *testing.T) {
	v := vaulttest.Start(t)
	ctx := context.Background()
	store, err := keys.NewVaultStore(ctx, keys.VaultConfig{Address: v.Addr, Token: v.Token, Prefix: "govgate/gw-test", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, err := certs.InitDir(filepath.Join(dir, "ca"), "Root", "govgate", time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	putPair := func() string { return putTLCPPair(t, store, ca) }
	first := putPair()
	src, err := tlcp.NewSource(ctx, tlcp.SourceFiles{SignKeyName: "tlcp-sign", EncKeyName: "tlcp-enc", ClientCA: []string{filepath.Join(dir, "ca", "ca.pem")}}, store, nil)
	if err != nil {
		t.Fatal(err)
	}

	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.TLCP = TLCP{SignKeyName: "tlcp-sign", EncKeyName: "tlcp-enc", ClientCA: "x"}
	cfg.Keys = Keys{Backend: "vault", Vault: Vault{Address: v.Addr, TokenEnv: "VAULT_TOKEN"}}
	cfg.ApplyDefaults()
	cs := &certs.Lister{Holders: []certs.CertificateHolder{src}}
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000),
		Transports:   map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: src.Identity, Trust: src.Trust}},
		Admin:        []AdminHandler{assemble.CertsEndpoint(cs)}, Metrics: []prometheus.Collector{cs.Collector()},
		Degraded: map[string]WarningReporter{"tlcp-keys": src},
	}})
	addr := gw.ListenerAddr("ext").String()
	dept, _ := ca.Issue(certs.PairRequest{Dept: "110000-rensheju", System: "s"})
	serial := func() string {
		t.Helper()
		conn, err := tlcp.Dial(ctx, "tcp", addr, tlcp.ClientConfig{Identity: tlcpIdentity(dept), Trust: src.Trust, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.Peer().SerialHex
	}
	kept, err := client.New(client.Config{Identity: tlcpIdentity(dept), Trust: src.Trust, ServerName: "localhost", Unsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	get := func() int {
		resp, err := kept.Do(ctx, client.Request{URL: "https://" + addr + "/population/v1/persons"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	if get() != 200 || serial() != first {
		t.Fatal("the gateway does not start from the pair in Vault")
	}

	second := putPair()
	src.Poll(ctx)
	if got := serial(); got != second {
		t.Errorf("after a new version in Vault a new handshake shows %s, want %s", got, second)
	}
	if get() != 200 {
		t.Error("the open keep-alive connection broke on rotation")
	}

	store.Put(ctx, "tlcp-sign", []byte("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"))
	src.Poll(ctx)
	if src.Refused() != 1 || serial() != second {
		t.Errorf("a malformed version: refused %d, serving %s", src.Refused(), serial())
	}

	v.Stop()
	src.Poll(ctx)
	if serial() != second || get() != 200 {
		t.Error("traffic stopped with Vault")
	}
	admin := "http://" + gw.AdminAddr().String()
	status, _, body := do(t, "GET", admin+"/readyz", "", nil)
	if status != 200 || !strings.Contains(string(body), "key store unreachable") {
		t.Errorf("/readyz with Vault stopped: %d %s", status, body)
	}
	if _, _, m := do(t, "GET", admin+"/metrics", "", nil); !strings.Contains(string(m), `govgate_key_store_unreachable{component="certs"} 1`) {
		t.Error("the metric does not say the key store is unreachable")
	}

}

// putTLCPPair issues a gateway TLCP pair for localhost from ca and puts its bundles into
// store as tlcp-enc, then tlcp-sign (the order certs rotate writes them); it returns the
// signing certificate's serial.
func putTLCPPair(t *testing.T, store keys.Store, ca *certs.Dir) string {
	t.Helper()
	ctx := context.Background()
	p, err := ca.Issue(certs.PairRequest{System: "gw-test", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	sign, enc, err := ca.Bundles(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, "tlcp-enc", enc); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, "tlcp-sign", sign); err != nil {
		t.Fatal(err)
	}
	return p.SignCert.SerialNumber.Text(16)
}
