// Package vaulttest starts a real `vault server -dev` on 127.0.0.1 for tests, from the
// binary scripts/vault.sh builds from the Go module proxy (GOVGATE_VAULT_BIN). It is not
// a fake: tests that use it talk to Vault itself.
package vaulttest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Server is one running dev server.
type Server struct {
	Addr, Token string
	CAFile      string // with StartTLS: the CA of the server's certificate
	cmd         *exec.Cmd
	once        sync.Once
}

// Start starts a dev server for t and stops it when t ends. Without GOVGATE_VAULT_BIN
// the test is skipped, loudly; .ci/run always sets it.
func Start(t testing.TB) *Server { return start(t, false) }

// StartTLS starts a dev server that speaks TLS with a CA of its own; CAFile verifies it.
func StartTLS(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, useTLS bool) *Server {
	t.Helper()
	bin := os.Getenv("GOVGATE_VAULT_BIN")
	if bin == "" {
		t.Skip("SKIPPED LOUDLY: no Vault here. Run `export GOVGATE_VAULT_BIN=$(scripts/vault.sh)` (builds it from the module proxy; .ci/run does this)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: "http://" + addr, Token: fmt.Sprintf("govgate-test-%d", time.Now().UnixNano())}
	args := []string{"server", "-dev", "-dev-listen-address=" + addr, "-dev-root-token-id=" + s.Token, "-dev-no-store-token"}
	client := http.DefaultClient
	if useTLS {
		certDir := t.TempDir()
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+certDir)
		s.Addr, s.CAFile = "https://"+addr, filepath.Join(certDir, "vault-ca.pem")
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // readiness only; the test verifies
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), "VAULT_LOG_LEVEL=warn")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	// /v1/sys/health answers before the KV v2 mount exists: wait for the mount itself.
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", s.Addr+"/v1/sys/mounts/secret", nil)
		req.Header.Set("X-Vault-Token", s.Token)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("vault did not mount secret/ in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server; the tests of an outage call it early.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.cmd.Process != nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
}
