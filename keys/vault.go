package keys

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// VaultConfig says how to reach Vault and where the gateway's keys are.
type VaultConfig struct {
	Address string
	// Token authenticates directly; else AppRole with RoleID and SecretID logs in.
	Token    string
	RoleID   string
	SecretID string
	// CAFile verifies Vault's TLS certificate.
	CAFile string
	// Mount is the KV v2 mount (default "secret"); Prefix the path under it
	// (govgate/<gateway-id>).
	Mount   string
	Prefix  string
	Timeout time.Duration
}

// VaultStore keeps each key as a KV v2 secret <mount>/<prefix>/<name> whose "pem" field
// holds the version's data: KV v2's own versions are the key's versions.
type VaultStore struct {
	c      *vault.Client
	kv     *vault.KVv2
	mount  string
	prefix string
}

// NewVaultStore connects and logs in.
func NewVaultStore(ctx context.Context, cfg VaultConfig) (*VaultStore, error) {
	if cfg.Mount == "" {
		cfg.Mount = "secret"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	vc := vault.DefaultConfig()
	vc.Address = cfg.Address
	vc.Timeout = cfg.Timeout
	vc.MaxRetries = 0 // the watcher backs off; a request must fail fast
	if cfg.CAFile != "" {
		if err := vc.ConfigureTLS(&vault.TLSConfig{CACert: cfg.CAFile}); err != nil {
			return nil, fmt.Errorf("vault TLS: %w", err)
		}
	}
	c, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	// The environment must not add a token or namespace behind the config's back.
	c.ClearToken()
	switch {
	case cfg.Token != "":
		c.SetToken(cfg.Token)
	case cfg.RoleID != "":
		secret, err := c.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": cfg.RoleID, "secret_id": cfg.SecretID})
		if err != nil {
			return nil, fmt.Errorf("vault approle login: %w", err)
		}
		if secret == nil || secret.Auth == nil {
			return nil, errors.New("vault approle login: no token in the answer")
		}
		c.SetToken(secret.Auth.ClientToken)
	default:
		return nil, errors.New("vault: neither a token nor an AppRole role_id")
	}
	return &VaultStore{c: c, kv: c.KVv2(cfg.Mount), mount: cfg.Mount, prefix: strings.Trim(cfg.Prefix, "/")}, nil
}

func (s *VaultStore) path(name string) string { return s.prefix + "/" + name }

func versionOf(name string, sec *vault.KVSecret) (*Version, error) {
	if sec == nil || sec.Data == nil || sec.VersionMetadata == nil {
		return nil, fmt.Errorf("%s: %w (deleted or destroyed)", name, ErrNotFound)
	}
	pem, ok := sec.Data["pem"].(string)
	if !ok {
		return nil, fmt.Errorf("key %s version %d: no \"pem\" field", name, sec.VersionMetadata.Version)
	}
	return &Version{Name: name, Number: sec.VersionMetadata.Version, Data: []byte(pem), Created: sec.VersionMetadata.CreatedTime}, nil
}

func notFound(name string, err error) error {
	if errors.Is(err, vault.ErrSecretNotFound) {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return fmt.Errorf("vault key %s: %w", name, err)
}

// Latest reads the newest version.
func (s *VaultStore) Latest(ctx context.Context, name string) (*Version, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	sec, err := s.kv.Get(ctx, s.path(name))
	if err != nil {
		return nil, notFound(name, err)
	}
	return versionOf(name, sec)
}

// Get reads one version.
func (s *VaultStore) Get(ctx context.Context, name string, number int) (*Version, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	sec, err := s.kv.GetVersion(ctx, s.path(name), number)
	if err != nil {
		return nil, notFound(name, err)
	}
	return versionOf(name, sec)
}

// Put writes a new version.
func (s *VaultStore) Put(ctx context.Context, name string, data []byte) (*Version, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	sec, err := s.kv.Put(ctx, s.path(name), map[string]any{"pem": string(data)})
	if err != nil {
		return nil, fmt.Errorf("vault put %s: %w", name, err)
	}
	return &Version{Name: name, Number: sec.VersionMetadata.Version, Data: data, Created: sec.VersionMetadata.CreatedTime}, nil
}

// List returns the keys under the prefix with all their versions, oldest first.
func (s *VaultStore) List(ctx context.Context) ([]Summary, error) {
	sec, err := s.c.Logical().ListWithContext(ctx, s.mount+"/metadata/"+s.prefix)
	if err != nil {
		return nil, fmt.Errorf("vault list: %w", err)
	}
	var out []Summary
	if sec == nil {
		return out, nil
	}
	names, _ := sec.Data["keys"].([]any)
	for _, n := range names {
		name, _ := n.(string)
		if CheckName(name) != nil {
			continue
		}
		sum, err := s.summary(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// summary lists name's versions from its KV v2 metadata; Latest is what Latest reads (a
// soft-deleted newest version leaves the key unreadable, as the gateway sees it).
func (s *VaultStore) summary(ctx context.Context, name string) (Summary, error) {
	v, err := s.Latest(ctx, name)
	if err != nil {
		return Summary{}, err
	}
	md, err := s.kv.GetMetadata(ctx, s.path(name))
	if err != nil {
		return Summary{}, notFound(name, err)
	}
	sum := Summary{Name: name, Latest: v.Number, Created: v.Created}
	for _, m := range md.Versions {
		sum.Versions = append(sum.Versions, VersionInfo{Number: m.Version, Created: m.CreatedTime, Deleted: m.Destroyed || !m.DeletionTime.IsZero()})
	}
	sort.Slice(sum.Versions, func(i, j int) bool { return sum.Versions[i].Number < sum.Versions[j].Number })
	return sum, nil
}
