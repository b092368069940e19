// Command govgate is the security gateway for government data sharing: the gateway itself
// (serve), a self-contained demonstration (demo), and the tools of the people who run it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/govgate/govgate/gateway"
)

// command is one subcommand: a name, one line of help, and its run function, which gets
// the arguments after the name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway from a YAML config file", runServe},
		{"demo", "run gateway and sample providers on loopback with embedded defaults", runDemo},
		{"call", "call the gateway as a department: TLCP, SM2-signed request, receipt", runCall},
		{"config", "validate a config file and print it with defaults applied", runConfig},
		{"policy", "test, check, format and evaluate the Rego policy (security officers)", runPolicy},
		{"audit", "verify the audit log offline, prove records, report sharing (auditors)", runAudit},
		{"keys", "list and rotate keys in the key store (cryptography administrators)", runKeys},
		{"ca", "create the SM2 CA: a root, or an intermediate (cryptography administrators)", runCA},
		{"certs", "issue, list, revoke certificates, publish the CRL, rotate the gateway's pair", runCerts},
		{"loadtest", "load the gateway: closed or open loop, plain, TLS or TLCP, HDR latency", runLoadtest},
		{"version", "print the version", runVersion},
	}
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "serve" || os.Args[1] == "demo") {
		gateway.ReserveSyscallProc()
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range cmds {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			case errors.Is(err, errFaultExit):
				return 1
			default:
				fmt.Fprintf(stderr, "govgate %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "govgate: unknown command %q\n\n", args[0])
	usage(stderr, cmds)
	return 2
}

// errUsage is returned after a flag error has already been printed with the usage.
var errUsage = errors.New("usage")

func usage(w io.Writer, cmds []command) {
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	fmt.Fprintln(w, "govgate — security gateway for government data sharing")
	fmt.Fprintln(w, "\nUsage: govgate <command> [flags]\n\nCommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'govgate <command> -h' for the flags of a command.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: govgate %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, flags and nothing else: a positional argument is refused.
func parseFlags(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", pos[0])
		fs.Usage()
		return errUsage
	}
	return nil
}

// parseArgs parses flags and positional arguments in any order, as pflag does (an
// operator writes `revoke SERIAL --ca DIR` as readily as `revoke --ca DIR SERIAL`), and
// returns the positional ones. "--" ends the flags: everything after it is positional,
// so an argument that starts with '-' can still be passed.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// The flag package stops at "--" (consumed) or at the first non-flag (kept).
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "govgate", version)
	return nil
}
