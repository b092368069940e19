package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/govgate/govgate/keys"
)

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"list":   runKeysList,
		"rotate": runKeysRotate,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprint(stderr, `Usage: govgate keys <command> [flags]

Commands, for cryptography administrators (密码管理员):
  list    the keys in the store, every version, and which one is in use
  rotate  add a new version of an SM2 key; a running gateway picks it up at its next poll
`)
		return errUsage
	}
	return sub[args[0]](ctx, args[1:], stdout, stderr)
}

func runKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys list", "keys list (--dir DIR | --vault-addr URL --vault-prefix PATH)", stderr)
	sf := addStoreFlags(fs, "dir")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !sf.given() {
		fs.Usage()
		return errUsage
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	list, err := store.List(ctx)
	if err != nil {
		return err
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

func runKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys rotate", "keys rotate NAME (--dir DIR | --vault-addr URL --vault-prefix PATH) [--password-env VAR]", stderr)
	sf := addStoreFlags(fs, "dir")
	passEnv := fs.String("password-env", "", "environment variable holding the password to encrypt the new key with")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if !sf.given() || len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	name := pos[0]
	if err := keys.CheckName(name); err != nil {
		return err
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	var password []byte
	if *passEnv != "" {
		password = []byte(os.Getenv(*passEnv))
	}
	v, err := keys.PutNewSM2Key(ctx, store, name, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: version %d written; a running gateway uses it from its next poll\n", name, v.Number)
	return nil
}
