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
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/govgate/govgate/gateway"
)

// command is one subcommand: a name, one line of help, and its run function, which gets
// the arguments after the name. A group (ca, certs, keys, policy, audit) has
// subcommands of its own and prints their list when called without one.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	group   bool
}

func commands() []command {
	return []command{
		{"serve", "run the gateway from a YAML config file", runServe, false},
		{"demo", "run gateway and sample providers on loopback with embedded defaults", runDemo, false},
		{"call", "call the gateway as a department: TLCP, SM2-signed request, receipt", runCall, false},
		{"config", "validate a config file and print it with defaults applied", runConfig, false},
		{"policy", "test, check, format and evaluate the Rego policy (security officers)", runPolicy, true},
		{"audit", "verify the audit log offline, prove records, report sharing (auditors)", runAudit, true},
		{"keys", "list and rotate keys in the key store (cryptography administrators)", runKeys, true},
		{"ca", "create the SM2 CA: a root, or an intermediate (cryptography administrators)", runCA, true},
		{"certs", "issue, list, revoke certificates, publish the CRL, rotate the gateway's pair", runCerts, true},
		{"fleet", "look at every gateway's admin API and flag where the fleet diverges", runFleet, true},
		{"loadtest", "load the gateway: closed or open loop, plain, TLS or TLCP, HDR latency", runLoadtest, false},
		{"healthcheck", "probe the admin API's /readyz: exit 0 when ready (container HEALTHCHECK)", runHealthcheck, false},
		{"version", "print the module version, VCS revision and Go version", runVersion, false},
	}
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "serve" || os.Args[1] == "demo") {
		gateway.ReserveSyscallProc()
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit status, the same for every command (README "Exit status"): 0 the command did its
// job and the answer is yes (tests pass, the log verifies, the call was answered 2xx,
// the gateway is ready); 1 it failed or the answer is no (an error, failing tests, a
// denial, a log that does not verify), with the reason on stderr; 2 the command line was
// wrong (unknown command or flag, missing argument). Asking for help (-h, --help, help)
// is not an error: 0.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return exitUsage
	}
	if isHelp(args[0]) {
		usage(stderr, cmds)
		return exitOK
	}
	if args[0] == "--version" {
		args = []string{"version"}
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		rest := args[1:]
		if c.group && len(rest) > 0 && isHelp(rest[0]) {
			// A group called without a subcommand prints the list of its subcommands
			// and reports a usage error; asked for that list, it is the answer.
			if err := c.run(ctx, nil, stdout, stderr); err != nil && !errors.Is(err, errUsage) {
				fmt.Fprintf(stderr, "govgate %s: %v\n", c.name, err)
				return exitFailure
			}
			return exitOK
		}
		return exitCode(stderr, c.name, c.run(ctx, rest, stdout, stderr))
	}
	fmt.Fprintf(stderr, "govgate: unknown command %q\n\n", args[0])
	usage(stderr, cmds)
	return exitUsage
}

// exitCode maps what a command returned to the exit status, printing the error unless
// the command already did.
func exitCode(stderr io.Writer, name string, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errFaultExit), errors.Is(err, errFound):
		return exitFailure
	default:
		fmt.Fprintf(stderr, "govgate %s: %v\n", name, err)
		return exitFailure
	}
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// errUsage is returned after a flag error has already been printed with the usage.
var errUsage = errors.New("usage")

func usage(w io.Writer, cmds []command) {
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	fmt.Fprintln(w, "govgate — security gateway for government data sharing")
	fmt.Fprintln(w, "\nUsage: govgate <command> [flags]\n\nCommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
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

// version and revision may be set at build time with -ldflags "-X main.version=v1.2.3
// -X main.revision=…", for builds without the module's VCS data (a container build
// whose context leaves .git out); otherwise the binary's build info says.
var version, revision string

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprint(stdout, buildVersion(version, revision))
	return nil
}

// buildVersion describes this binary from runtime/debug.ReadBuildInfo: the module
// version ("(devel)" for a go build in a checkout, the tag for go install …@vX), the
// VCS revision, its time and whether the tree had uncommitted changes, and the Go
// toolchain. Values given at link time win over the build info's.
func buildVersion(linkVersion, linkRevision string) string {
	v := versionInfo{version: "(unknown)", revision: "(unknown)", goVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.module, v.version, v.goVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.revision = s.Value
			case "vcs.time":
				v.time = s.Value
			case "vcs.modified":
				v.modified = s.Value
			}
		}
	}
	if linkVersion != "" {
		v.version = linkVersion
	}
	if linkRevision != "" {
		v.revision = linkRevision
	}
	return v.String()
}

type versionInfo struct {
	module, version, revision, time, modified, goVersion string
}

func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "govgate %s\n", v.version)
	if v.module != "" {
		fmt.Fprintf(&b, "module:   %s\n", v.module)
	}
	fmt.Fprintf(&b, "revision: %s\n", v.revision)
	if v.time != "" {
		fmt.Fprintf(&b, "time:     %s\n", v.time)
	}
	if v.modified != "" {
		fmt.Fprintf(&b, "dirty:    %s\n", v.modified)
	}
	fmt.Fprintf(&b, "go:       %s %s/%s\n", v.goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
