package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/govgate/govgate/policy/bundle"
)

// runPolicyBuild is `govgate policy build DIR --out bundle.tar.gz [--revision R]`.
func runPolicyBuild(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy build", "policy build DIR --out FILE [--revision R]", stderr)
	out := fs.String("out", "bundle.tar.gz", "the bundle file to write (OPA's bundle layout, gzipped tar)")
	rev := fs.String("revision", "", "the manifest's revision; default: the SM3 revision ID of the files")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "policy build: give the policy directory: govgate policy build DIR --out FILE")
		return errUsage
	}
	b, err := bundle.BuildDir(pos[0], *rev)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("policy build: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes); sign it with: govgate policy sign %s --cert OFFICER.pem --key OFFICER.key\n", *out, len(b), *out)
	return nil
}

// runPolicySign is `govgate policy sign bundle.tar.gz --cert officer.pem --key officer.key`.
func runPolicySign(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy sign", "policy sign BUNDLE --cert CERT.pem --key KEY.key", stderr)
	cert := fs.String("cert", "", "the security officer's signing certificate (PEM), followed by its chain")
	key := fs.String("key", "", "the signing certificate's private key (PEM, mode 0600)")
	passEnv := fs.String("key-pass-env", "", "name of an environment variable holding the key's password, when it is encrypted")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *cert == "" || *key == "" {
		fmt.Fprintln(stderr, "policy sign: give the bundle, --cert and --key")
		return errUsage
	}
	var password []byte
	if *passEnv != "" {
		password = []byte(os.Getenv(*passEnv))
	}
	sig, err := bundle.SignFile(pos[0], *cert, *key, password, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s; publish both files on the bundle server\n", sig)
	return nil
}
