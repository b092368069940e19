package assemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/keys"
)

// keyStore opens the configured store when a part keeps its keys there: the audit log's
// signing key, a TLCP pair named by key.
func (b *builder) keyStore() error {
	needs := (b.cfg.Audit.Dir != "" && !b.without(Audit)) ||
		(b.cfg.TLCP.SignKeyName != "" && b.cfg.UsesTransport(gateway.TransportTLCP))
	if !needs {
		return nil
	}
	store, err := OpenKeyStore(b.ctx, b.cfg)
	if err != nil {
		return err
	}
	b.a.Store = store
	b.keys = &KeyListing{Store: store, Where: storeWhere(b.cfg)}
	return nil
}

// usesKeys adds a part's versions in use to GET /keys.
func (b *builder) usesKeys(u KeyUser) {
	if b.keys != nil {
		b.keys.Users = append(b.keys.Users, u)
	}
}

// keyListing serves GET /keys when the gateway has a key store.
func (b *builder) keyListing() error {
	if b.keys != nil {
		b.admin([]gateway.AdminHandler{b.keys.Endpoint()}, nil)
	}
	return nil
}

// OpenKeyStore opens the configured key store backend.
func OpenKeyStore(ctx context.Context, cfg *gateway.Config) (keys.Store, error) {
	if cfg.Keys.Backend != "vault" {
		return keys.NewFileStore(cfg.Keys.Dir)
	}
	v := cfg.Keys.Vault
	vc := keys.VaultConfig{Address: v.Address, RoleID: v.RoleID, CAFile: v.CAFile, Mount: v.Mount, Prefix: v.Prefix}
	if v.TokenEnv != "" {
		if vc.Token = os.Getenv(v.TokenEnv); vc.Token == "" {
			return nil, fmt.Errorf("keys.vault.token_env: $%s is empty", v.TokenEnv)
		}
	}
	if v.SecretIDEnv != "" {
		vc.SecretID = os.Getenv(v.SecretIDEnv)
	}
	return keys.NewVaultStore(ctx, vc)
}

// ensureKey generates the first version of an SM2 key the store does not hold yet.
func ensureKey(ctx context.Context, store keys.Store, name string, password []byte, log *slog.Logger) error {
	_, err := store.Latest(ctx, name)
	if !errors.Is(err, keys.ErrNotFound) {
		return err
	}
	v, err := keys.PutNewSM2Key(ctx, store, name, password)
	if err != nil {
		return err
	}
	log.Info("generated a key", "key", name, "version", v.Number)
	return nil
}

// keyWarning reports a key watcher whose store cannot be read.
type keyWarning struct{ w *keys.Watcher }

func (k keyWarning) Warning() string {
	if err := k.w.Err(); err != nil {
		return "key store unreachable; the key in use is the last good one: " + err.Error()
	}
	return ""
}
