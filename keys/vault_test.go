package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/govgate/govgate/internal/vaulttest"
)

// vaultServer is a real Vault dev server for one test.
type vaultServer struct {
	*vaulttest.Server
	addr, token string
}

func startVault(t *testing.T) *vaultServer {
	t.Helper()
	s := vaulttest.Start(t)
	return &vaultServer{Server: s, addr: s.Addr, token: s.Token}
}

func (v *vaultServer) stop() { v.Stop() }

func (v *vaultServer) root(t *testing.T) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = v.addr
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(v.token)
	return c
}

// appRole enables AppRole with a role that may use the gateway's keys and nothing else.
func (v *vaultServer) appRole(t *testing.T, prefix string) (roleID, secretID string) {
	t.Helper()
	c := v.root(t)
	ctx := context.Background()
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/%[1]s" { capabilities = ["list"] }
path "secret/metadata/%[1]s/*" { capabilities = ["read", "list"] }`, prefix)
	if err := c.Sys().PutPolicyWithContext(ctx, "govgate-gw", policy); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, "auth/approle/role/gw", map[string]any{"token_policies": "govgate-gw"}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Logical().ReadWithContext(ctx, "auth/approle/role/gw/role-id")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/approle/role/gw/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.Data["role_id"].(string), s.Data["secret_id"].(string)
}

func TestVaultStore(t *testing.T) {
	v := startVault(t)
	ctx := context.Background()
	s, err := NewVaultStore(ctx, VaultConfig{Address: v.addr, Token: v.token, Prefix: "govgate/gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Latest(ctx, "tlcp-sign"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty: %v", err)
	}
	for i := 1; i <= 3; i++ {
		ver, err := s.Put(ctx, "tlcp-sign", []byte(fmt.Sprintf("pem-%d", i)))
		if err != nil || ver.Number != i {
			t.Fatalf("put %d: %+v %v", i, ver, err)
		}
	}
	latest, err := s.Latest(ctx, "tlcp-sign")
	if err != nil || latest.Number != 3 || string(latest.Data) != "pem-3" {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if old, err := s.Get(ctx, "tlcp-sign", 1); err != nil || string(old.Data) != "pem-1" {
		t.Errorf("version 1: %+v %v", old, err)
	}
	s.Put(ctx, "audit-signing", []byte("a"))
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 || list[1].Name != "tlcp-sign" || list[1].Latest != 3 {
		t.Errorf("list: %+v %v", list, err)
	}

	// AppRole reaches the same keys; a wrong secret_id is refused.
	roleID, secretID := v.appRole(t, "govgate/gw-test")
	as, err := NewVaultStore(ctx, VaultConfig{Address: v.addr, RoleID: roleID, SecretID: secretID, Prefix: "govgate/gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := as.Latest(ctx, "tlcp-sign"); err != nil || got.Number != 3 {
		t.Errorf("approle read: %+v %v", got, err)
	}
	if _, err := NewVaultStore(ctx, VaultConfig{Address: v.addr, RoleID: roleID, SecretID: "wrong", Prefix: "govgate/gw-test"}); err == nil {
		t.Error("a wrong secret_id logged in")
	}
	// The AppRole policy keeps the gateway to its own prefix.
	other, _ := NewVaultStore(ctx, VaultConfig{Address: v.addr, RoleID: roleID, SecretID: secretID, Prefix: "govgate/gw-other"})
	if _, err := other.Put(ctx, "tlcp-sign", []byte("x")); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("write outside the prefix: %v", err)
	}
}

// TestVaultOutageKeepsLastGoodVersion: a new version in Vault is picked up at the next poll,
// a malformed one is refused, and when Vault stops the last good version stays in use
// while the watcher says the store is unreachable.
func TestVaultOutageKeepsLastGoodVersion(t *testing.T) {
	v := startVault(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewVaultStore(ctx, VaultConfig{Address: v.addr, Token: v.token, Prefix: "govgate/gw-test", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.Put(ctx, "audit-signing", []byte("good-1"))
	var mu sync.Mutex
	inUse := ""
	w := &Watcher{What: "audit key", Store: s, Names: []string{"audit-signing"}, Interval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Apply: func(vs []*Version) error {
		ver := vs[0]
		if !strings.HasPrefix(string(ver.Data), "good") {
			return errors.New("malformed")
		}
		mu.Lock()
		inUse = string(ver.Data)
		mu.Unlock()
		return nil
	}}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.Put(ctx, "audit-signing", []byte("good-2"))
	waitUntil("version 2", func() bool { return w.Current()[0] == 2 })
	s.Put(ctx, "audit-signing", []byte("garbage-3"))
	time.Sleep(100 * time.Millisecond)
	if w.Current()[0] != 2 {
		t.Fatalf("a malformed version was taken: %d", w.Current()[0])
	}
	v.stop()
	waitUntil("the outage to show", func() bool { return w.Err() != nil })
	mu.Lock()
	defer mu.Unlock()
	if inUse != "good-2" || w.Current()[0] != 2 {
		t.Errorf("in use during the outage: %q (version %d)", inUse, w.Current()[0])
	}
}

// TestVaultOverTLS: the store verifies Vault's certificate with the configured CA file and
// refuses a Vault it cannot verify.
func TestVaultOverTLS(t *testing.T) {
	v := vaulttest.StartTLS(t)
	ctx := context.Background()
	s, err := NewVaultStore(ctx, VaultConfig{Address: v.Addr, Token: v.Token, CAFile: v.CAFile, Prefix: "govgate/gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "audit-signing", []byte("pem")); err != nil {
		t.Fatalf("over TLS with the CA file: %v", err)
	}
	unverified, err := NewVaultStore(ctx, VaultConfig{Address: v.Addr, Token: v.Token, Prefix: "govgate/gw-test"})
	if err == nil {
		_, err = unverified.Latest(ctx, "audit-signing")
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA file: %v", err)
	}
}
