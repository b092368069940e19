// Command govgate is the security gateway for government data sharing: the gateway itself
// (serve), a self-contained demonstration (demo), and the tools of the people who run it.
// The command tree is in root.go; each group of commands has its file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/govgate/govgate/gateway"
)

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
// wrong (unknown command or flag, missing or extra argument). Asking for help (-h,
// --help, help) is not an error: 0.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run runs one command line; tests call it as main does.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(legacyLongFlags(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(cmd, err, stdout, stderr)
}

// exitCode maps what a command returned to the exit status, printing the error unless
// the command already did. A failing command asked for --json also says so on stdout,
// so that a program reading it always gets one JSON document.
func exitCode(cmd *cobra.Command, err error, stdout, stderr io.Writer) int {
	name := "govgate"
	if cmd != nil {
		name = topName(cmd)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		if err != errUsage {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		if cmd != nil {
			fmt.Fprintf(stderr, "\n%s", cmd.UsageString())
		}
		return exitUsage
	case errors.Is(err, errFound):
		return exitFailure
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if wantsJSON(cmd) {
			_ = writeJSON(stdout, failureJSON{OK: false, Error: err.Error()})
		}
		return exitFailure
	}
}

// topName is how errors are prefixed: "govgate" and the top-level command ("govgate
// policy: ..."), as they always were.
func topName(c *cobra.Command) string {
	for c.HasParent() && c.Parent().HasParent() {
		c = c.Parent()
	}
	return c.CommandPath()
}
