package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command tree is built with cobra and pflag, as opa, kubectl and Caddy are.
//
// A new command follows one pattern (porting a command written with Go's flag package,
// `func runX(ctx, args, stdout, stderr) error` with newFlagSet/parseArgs, is mechanical):
//
//	func xCmd() *cobra.Command {
//		return leaf("x DIR --keys FILE", "one line for the group's list", exactArgs(1),
//			func(fs *pflag.FlagSet) runFunc {
//				keysPath := fs.String("keys", "", "help text (every flag has one)")
//				asJSON := fs.Bool("json", false, jsonHelp)
//				return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
//					// args are the positional arguments only; flags may stand anywhere
//					// among them, and "--" ends the flags.
//					if *keysPath == "" {
//						return usageErrorf("--keys is required") // exit 2, with the usage
//					}
//					...
//					return errFound // a "no" verdict already printed: exit 1, nothing more said
//				}
//			})
//	}
//
// and is added to its group's list (auditCmd, policyCmd, ...) or to newRoot's: an entry of
// a group's old sub map (`"ship": runAuditShip`) becomes auditShipCmd() in auditCmd, an
// entry of main.go's old commands() table one in newRoot's AddCommand; a new group is
// group(name, short, long, subs...). Porting a body: a DIR taken with splitDir or
// parseArgs becomes exactArgs(1) and args[0]; the flag definitions move into the define
// function unchanged (pflag's String, Bool,
// Int, Duration, Var have flag's signatures; a custom flag.Value adds `Type() string`;
// a one-letter flag becomes the shorthand of a long one, StringP("request", "X", ...));
// the body moves into the returned function; parseFlags/parseArgs disappear, `fs.Usage();
// return errUsage` becomes `return usageErrorf("why")`, fs.Visit becomes fs.Changed.
// A command whose output is a list or a verdict takes --json (jsonHelp): one JSON object
// or array on stdout, shape documented in docs/architecture.md, exit status unchanged.

// runFunc is a command's body: the context, the positional arguments and the two streams.
type runFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// leaf builds a command that does something. define registers the flags on the command's
// flag set (so that -h, completion and the legacy single-dash rewrite know them) and
// returns the body, which reads them. A lone "help" that the command would refuse as an argument asks for its help.
func leaf(use, short string, args cobra.PositionalArgs, define func(fs *pflag.FlagSet) runFunc) *cobra.Command {
	askedHelp := func(c *cobra.Command, a []string) bool {
		return len(a) == 1 && a[0] == "help" && args(c, a) != nil
	}
	c := &cobra.Command{Use: use, Short: short}
	c.Args = func(c *cobra.Command, a []string) error {
		if askedHelp(c, a) {
			return nil
		}
		return args(c, a)
	}
	body := define(c.Flags())
	c.RunE = func(c *cobra.Command, a []string) error {
		if askedHelp(c, a) {
			return c.Help()
		}
		return body(c.Context(), a, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// group builds a command that only holds subcommands (ca, certs, keys, policy, audit).
// Called alone it prints its list and is a usage error; "help" or -h prints the list
// and is not; an unknown subcommand is a usage error.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Long: long, Args: subcommandArgs, RunE: groupRun}
	c.AddCommand(subs...)
	return c
}

// groupRun is what a group does when it is run: "help" prints its list; alone, it is a
// usage error (subcommandArgs refused anything else).
func groupRun(c *cobra.Command, args []string) error {
	if len(args) == 1 && args[0] == "help" {
		return c.Help()
	}
	return usageErrorf("a command is required")
}

// subcommandArgs refuses an argument that names no subcommand (cobra would otherwise
// print the group's help and exit 0); "help" is one.
func subcommandArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 || (len(args) == 1 && args[0] == "help") {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageErrorf("%s", msg)
}

// newRoot builds the whole command tree, completion and help commands included, writing
// to stdout and stderr.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "govgate",
		Short: "govgate — security gateway for government data sharing",
		Long: `govgate — security gateway for government data sharing: the gateway itself (serve),
a self-contained demonstration (demo), and the tools of the people who run it.

Exit status, for every command: 0 ok, or the answer is yes (and for any help request);
1 failure, or the answer is no (failing tests, a denial, a log that does not verify);
2 the command line is wrong (unknown command or flag, missing or extra argument).`,
		Args:          subcommandArgs,
		RunE:          groupRun,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.Flags().Bool("version", false, "print the module version, VCS revision and Go version")
	root.Version = "set so that cobra answers --version" // the template prints buildVersion
	root.SetVersionTemplate(buildVersion(version, revision))
	root.AddCommand(
		serveCmd(), demoCmd(), callCmd(), configCmd(), policyCmd(), auditCmd(), keysCmd(),
		caCmd(), certsCmd(), loadtestCmd(), healthcheckCmd(), versionCmd(), fleetCmd(),
	)
	root.SetOut(stdout) // before the completion commands, which keep the writer they see
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetHelpFunc(printHelp)
	// A group's usage is its list of commands: "govgate ca [flags]" would suggest it runs alone.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "completion": // a group like ours: `completion tcsh` is a usage error
			c.Args, c.RunE = subcommandArgs, groupRun
		case "help": // cobra's prints "Unknown help topic" and exits 0
			c.Run, c.RunE = nil, helpTopic
		}
	}
	// cobra's own commands (help, completion) check their arguments with cobra's
	// validators: their errors are usage errors too.
	walk(root, func(c *cobra.Command) {
		if a := c.Args; a != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				err := a(c, args)
				if err != nil && !errors.Is(err, errUsage) {
					return usageError{err}
				}
				return err
			}
		}
	})
	return root
}

// walk calls f on c and every command below it.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		walk(s, f)
	}
}

// helpTopic is `govgate help CMD…`: the help of the command the arguments name, and a
// usage error (exit 2) when they name none, so that a script never takes a typo for help.
func helpTopic(c *cobra.Command, args []string) error {
	cmd, rest, err := c.Root().Find(args)
	if err != nil || cmd == nil || len(rest) > 0 {
		return usageErrorf("no command %q: `govgate help` lists them", strings.Join(args, " "))
	}
	cmd.InitDefaultHelpFlag() // so that the help lists -h
	return cmd.Help()
}

// printHelp writes the help a user asked for (-h, --help, help) to stdout, so that
// `govgate audit -h | less` pages it; the usage printed with a wrong command line goes to
// stderr with the error (exitCode).
func printHelp(c *cobra.Command, _ []string) {
	text := c.Long
	if text == "" {
		text = c.Short
	}
	w := c.OutOrStdout()
	fmt.Fprintf(w, "%s\n\n%s", strings.TrimRight(text, "\n"), c.UsageString())
}

// exactArgs, maxArgs, noArgs and anyArgs are cobra's validators, named for the pattern above; the
// tree wraps every validator's error as a usage error.
func exactArgs(n int) cobra.PositionalArgs { return cobra.ExactArgs(n) }
func maxArgs(n int) cobra.PositionalArgs   { return cobra.MaximumNArgs(n) }

var (
	noArgs  cobra.PositionalArgs = cobra.NoArgs
	anyArgs cobra.PositionalArgs = cobra.ArbitraryArgs // the body counts them itself
)

// jsonHelp is the help of every --json flag.
const jsonHelp = "print the result as one JSON document on stdout (docs/architecture.md); the exit status is unchanged"

// errUsage marks a wrong command line: exit status 2, with the command's usage.
var errUsage = errors.New("usage")

// usageError is a wrong command line, with what is wrong with it.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() []error {
	return []error{u.err, errUsage}
}

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// errFound is returned when a check found problems it has already printed: the exit
// status says so without a second message.
var errFound = errors.New("problems found")

func versionCmd() *cobra.Command {
	return leaf("version", "print the module version, VCS revision and Go version", noArgs, func(*pflag.FlagSet) runFunc {
		return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			_, err := fmt.Fprint(stdout, buildVersion(version, revision))
			return err
		}
	})
}
