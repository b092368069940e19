package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/policy/bundle"
)

// policyBuildCmd is `govgate policy build DIR --out bundle.tar.gz [--revision R]`.
func policyBuildCmd() *cobra.Command {
	return leaf("build DIR --out FILE [--revision R]", "build DIR into a policy bundle (OPA's layout) for a fleet", exactArgs(1), func(fs *pflag.FlagSet) runFunc {
		out := fs.String("out", "bundle.tar.gz", "the bundle file to write (OPA's bundle layout, gzipped tar)")
		rev := fs.String("revision", "", "the manifest's revision; default: the SM3 revision ID of the files")
		return func(_ context.Context, args []string, stdout, _ io.Writer) error {
			b, err := bundle.BuildDir(args[0], *rev)
			if err != nil {
				return err
			}
			if err := os.WriteFile(*out, b, 0o644); err != nil {
				return fmt.Errorf("policy build: %w", err)
			}
			fmt.Fprintf(stdout, "wrote %s (%d bytes); sign it with: govgate policy sign %s --cert OFFICER.pem --key OFFICER.key --audience FLEET\n", *out, len(b), *out)
			return nil
		}
	})
}

// policySignCmd is `govgate policy sign bundle.tar.gz --cert officer.pem --key officer.key --audience FLEET`.
func policySignCmd() *cobra.Command {
	return leaf("sign BUNDLE --cert CERT.pem --key KEY.key --audience FLEET", "sign a bundle with a security officer's SM2 certificate", exactArgs(1), func(fs *pflag.FlagSet) runFunc {
		cert := fs.String("cert", "", "the security officer's signing certificate (PEM), followed by its chain")
		key := fs.String("key", "", "the signing certificate's private key (PEM, mode 0600)")
		passEnv := fs.String("key-pass-env", "", "name of an environment variable holding the key's password, when it is encrypted")
		audience := fs.String("audience", "", "the fleet the bundle is for: the gateways' policy.bundle.audience (required; a gateway of another fleet refuses the bundle)")
		return func(_ context.Context, args []string, stdout, _ io.Writer) error {
			if *cert == "" || *key == "" || *audience == "" {
				return usageErrorf("--cert, --key and --audience are required")
			}
			var password []byte
			if *passEnv != "" {
				password = []byte(os.Getenv(*passEnv))
			}
			sig, err := bundle.SignFile(args[0], *cert, *key, *audience, password, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s; publish both files on the bundle server\n", sig)
			return nil
		}
	})
}
