package sharedstate

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/internal/testpki"
)

// writePair writes a certificate and its PKCS #8 key as PEM files in the CA's dir.
func writePair(t *testing.T, ca *testpki.EC, name string, server bool) (cert, key string) {
	t.Helper()
	pair, leaf := ca.Issue(t, name, "", server)
	der, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return ca.Write(t, name+".pem", "CERTIFICATE", leaf.Raw, 0o644), ca.Write(t, name+".key", "PRIVATE KEY", der, 0o600)
}

// TLS to Redis: the server is verified against shared.redis.tls.ca and server_name, and
// the gateway presents its client pair; without the pair, or trusting another CA, the
// gateway does not connect.
func TestTLS(t *testing.T) {
	ca := testpki.NewEC(t)
	srvCert, srvKey := writePair(t, ca, "redis", true)
	cliCert, cliKey := writePair(t, ca, "gateway", false)
	caFile := ca.Dir + "/ca.pem"
	srv := redistest.Start(t, redistest.WithTLS(redistest.TLSFiles{CA: caFile, Cert: srvCert, Key: srvKey, ClientCert: cliCert, ClientKey: cliKey}))
	cfg := redisConfig(srv.Addr)
	cfg.TLS = gateway.SharedTLS{CA: caFile, Cert: cliCert, Key: cliKey, ServerName: "localhost"}
	c := connect(t, cfg)
	s := gatewayStore(t, c, 0, NewHealth(refuse, quiet))
	now := time.Now()
	if err := s.ClaimNonce(t.Context(), crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "tls", Expiry: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}

	noPair := cfg
	noPair.TLS.Cert, noPair.TLS.Key = "", ""
	if _, err := Connect(t.Context(), noPair); err == nil {
		t.Error("connected without the client pair redis requires")
	}
	other := testpki.NewEC(t)
	wrongCA := cfg
	wrongCA.TLS.CA = other.Dir + "/ca.pem"
	if _, err := Connect(t.Context(), wrongCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("trusting another CA: %v", err)
	}
	plain := redisConfig(srv.Addr)
	if _, err := Connect(t.Context(), plain); err == nil {
		t.Error("connected in plain text to a TLS-only redis")
	}
}
