package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/keys"
)

func keysCmd() *cobra.Command {
	return group("keys", "list and rotate keys in the key store (cryptography administrators)",
		"Commands for cryptography administrators (密码管理员), on a key store directory or Vault.",
		keysListCmd(), keysRotateCmd())
}

func keysListCmd() *cobra.Command {
	return leaf("list (--dir DIR | --vault-addr URL --vault-prefix PATH)", "the keys in the store, every version, and which one is in use", noArgs, func(fs *pflag.FlagSet) runFunc {
		sf := addStoreFlags(fs, "dir")
		asJSON := fs.Bool("json", false, jsonHelp)
		return func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
			if !sf.given() {
				return usageErrorf("name the key store: --dir DIR or --vault-addr URL --vault-prefix PATH")
			}
			return keysList(ctx, sf, *asJSON, stdout)
		}
	})
}

func keysList(ctx context.Context, sf storeFlags, asJSON bool, stdout io.Writer) error {
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	list, err := store.List(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]keyJSON, 0, len(list))
		for _, k := range list {
			kj := keyJSON{Name: k.Name, Latest: k.Latest, Versions: make([]versionJSON, 0, len(k.Versions))}
			for _, v := range k.Versions {
				kj.Versions = append(kj.Versions, versionJSON{VersionInfo: v, State: versionState(k, v)})
			}
			out = append(out, kj)
		}
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "name\tversion\tcreated\tstate")
	for _, k := range list {
		for _, v := range k.Versions {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", k.Name, v.Number, v.Created.UTC().Format(time.RFC3339), versionState(k, v))
		}
	}
	return tw.Flush()
}

// keyJSON is one element of `keys list --json` (docs/architecture.md).
type keyJSON struct {
	Name     string        `json:"name"`
	Latest   int           `json:"latest"` // the version in use
	Versions []versionJSON `json:"versions"`
}

type versionJSON struct {
	keys.VersionInfo
	State string `json:"state"` // in use, old or deleted
}

// versionState says which version a gateway uses: the latest readable one.
func versionState(k keys.Summary, v keys.VersionInfo) string {
	switch {
	case v.Deleted:
		return "deleted"
	case v.Number == k.Latest:
		return "in use"
	}
	return "old"
}

func keysRotateCmd() *cobra.Command {
	return leaf("rotate NAME (--dir DIR | --vault-addr URL --vault-prefix PATH) [--password-env VAR]",
		"add a new version of an SM2 key; a running gateway picks it up at its next poll", exactArgs(1), func(fs *pflag.FlagSet) runFunc {
			sf := addStoreFlags(fs, "dir")
			passEnv := fs.String("password-env", "", "environment variable holding the password to encrypt the new key with")
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if !sf.given() {
					return usageErrorf("name the key store: --dir DIR or --vault-addr URL --vault-prefix PATH")
				}
				return keysRotate(ctx, sf, args[0], *passEnv, stdout)
			}
		})
}

func keysRotate(ctx context.Context, sf storeFlags, name, passEnv string, stdout io.Writer) error {
	if err := keys.CheckName(name); err != nil {
		return err
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	var password []byte
	if passEnv != "" {
		password = []byte(os.Getenv(passEnv))
	}
	v, err := keys.PutNewSM2Key(ctx, store, name, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: version %d written; a running gateway uses it from its next poll\n", name, v.Number)
	return nil
}
