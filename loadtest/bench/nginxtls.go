package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// nginxTLSCipher is the one suite row (d2) offers, in OpenSSL's name: TLS 1.2, ECDHE on
// P-256, ECDSA P-256 certificate, AES-128-GCM — the standard-crypto counterpart of the
// TLCP rows' ECC-SM2 suites (SM2 key exchange and signature, SM4), so that (e4) has a
// channel-encrypted peer. nginxTLSSuite is the same suite as crypto/tls names it.
const (
	nginxTLSCipher = "ECDHE-ECDSA-AES128-GCM-SHA256"
	nginxTLSSuite  = tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
)

// tlsPair is the bench's TLS server pair, and the client configuration that trusts it
// and offers only nginxTLSSuite.
type tlsPair struct {
	certFile, keyFile string
	client            *tls.Config
}

// nginxTLSServer is the listen part of a server block terminating TLS with the pair.
func nginxTLSServer(listen, cert, key string) string {
	return fmt.Sprintf(`listen %s ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2;
    ssl_ciphers %s;
    ssl_ecdh_curve prime256v1;
    ssl_prefer_server_ciphers on;`, listen, cert, key, nginxTLSCipher)
}

// tlsPair makes, once per bench, a self-signed P-256 ECDSA certificate for 127.0.0.1
// and localhost, writes it and its key (0600) into the work directory, and returns it.
func (b *bench) tlsPair() (*tlsPair, error) {
	if b.tls != nil {
		return b.tls, nil
	}
	p, err := newTLSPair(b.dir)
	if err != nil {
		return nil, err
	}
	b.tls = p
	return p, nil
}

func newTLSPair(dir string) (*tlsPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("tls serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "nginx bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tls key: %w", err)
	}
	p := &tlsPair{certFile: filepath.Join(dir, "nginx-tls.pem"), keyFile: filepath.Join(dir, "nginx-tls.key")}
	if err := os.WriteFile(p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("write tls certificate: %w", err)
	}
	if err := os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("write tls key: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	p.client = &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{nginxTLSSuite}, CurvePreferences: []tls.CurveID{tls.CurveP256}}
	return p, nil
}

// checkTLS makes one handshake with cfg and refuses a connection that did not negotiate
// TLS 1.2 with nginxTLSSuite: a row labelled with a suite must measure that suite.
func checkTLS(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if st.Version != tls.VersionTLS12 || st.CipherSuite != nginxTLSSuite {
		return fmt.Errorf("tls with %s negotiated %s %s, want TLS 1.2 %s", addr, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(nginxTLSSuite))
	}
	return nil
}
