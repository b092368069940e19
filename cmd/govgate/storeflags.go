package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/govgate/govgate/keys"
)

// storeFlags name a key store on the command line: a directory, or Vault.
type storeFlags struct {
	dir, vaultAddr, vaultTokenEnv, vaultPrefix *string
}

func addStoreFlags(fs *pflag.FlagSet, dirFlag string) storeFlags {
	return storeFlags{
		dir:           fs.String(dirFlag, "", "the key store directory (keys.dir of the config)"),
		vaultAddr:     fs.String("vault-addr", "", "use the Vault KV v2 key store at this address instead of a directory"),
		vaultTokenEnv: fs.String("vault-token-env", "VAULT_TOKEN", "environment variable holding the Vault token"),
		vaultPrefix:   fs.String("vault-prefix", "", "path of the gateway's keys under the KV mount (keys.vault.prefix, e.g. govgate/<gateway_id>); required with --vault-addr"),
	}
}

func (s storeFlags) given() bool { return *s.dir != "" || *s.vaultAddr != "" }

func (s storeFlags) open(ctx context.Context) (keys.Store, error) {
	if *s.vaultAddr == "" {
		if *s.dir == "" {
			return nil, errors.New("name the key store: a directory or --vault-addr")
		}
		return keys.NewFileStore(*s.dir)
	}
	// No default: a prefix guessed for the operator would read or write another
	// gateway's keys.
	if *s.vaultPrefix == "" {
		return nil, errors.New("--vault-prefix is required with --vault-addr: the path of this gateway's keys under the KV mount (keys.vault.prefix of its config)")
	}
	token := os.Getenv(*s.vaultTokenEnv)
	if token == "" {
		return nil, fmt.Errorf("$%s is empty: the Vault token is read from it", *s.vaultTokenEnv)
	}
	return keys.NewVaultStore(ctx, keys.VaultConfig{Address: *s.vaultAddr, Token: token, Prefix: *s.vaultPrefix})
}
