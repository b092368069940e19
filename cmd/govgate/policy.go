package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/govgate/govgate/policy"
	shipped "github.com/govgate/govgate/rego"
)

// errFound is returned when a check found problems it has already printed: the exit
// status says so without a second message.
var errFound = errors.New("problems found")

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"test":  runPolicyTest,
		"check": runPolicyCheck,
		"fmt":   runPolicyFmt,
		"eval":  runPolicyEval,
		"init":  runPolicyInit,
		"build": runPolicyBuild, // policybundle.go
		"sign":  runPolicySign,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprint(stderr, `Usage: govgate policy <command> [flags]

Commands, for security officers (安全管理员):
  init    write the shipped policy and example data into a new directory to start from
  test    run the Rego tests (with --coverage, the lines they evaluate)
  check   compile strictly, check the data documents and the layout of every file
  fmt     rewrite Rego files in opa fmt's layout (--list to only name them)
  eval    evaluate one input document and print the decision (--explain: the rules that fired)
  build   build DIR into a policy bundle (OPA's layout) for a fleet: --out FILE [--revision R]
  sign    sign a bundle with a security officer's SM2 certificate: BUNDLE --cert C --key K

Every command reads the policy directory given as DIR or --dir DIR (as opa test DIR
does), or the shipped policy when none is given. Exit status: 0 ok; 1 an error or
problems found (failing tests, files out of layout, with eval --fail a denial); 2 usage.
`)
		return errUsage
	}
	return sub[args[0]](ctx, args[1:], stdout, stderr)
}

// policyFiles reads the policy directory, or the shipped policy when dir is empty.
func policyFiles(dir string) (*policy.Files, error) {
	var fsys fs.FS = shipped.FS()
	if dir != "" {
		// os.DirFS would report a missing directory as "stat .": name it.
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("policy directory: %w", err)
		}
		fsys = os.DirFS(dir)
	}
	return policy.ReadFiles(fsys)
}

const policyDirHelp = "policy directory (Rego and data), also accepted as the one positional argument; empty: the shipped policy"

// parseDirArgs parses the flags wherever they stand among the arguments and takes at most
// one positional argument, the policy directory, as opa test DIR and opa check DIR do.
// --dir stays for scripts written against it; giving both is refused rather than guessed.
func parseDirArgs(fset *flag.FlagSet, args []string, dir *string) error {
	var positional []string
	for {
		if err := fset.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		rest := fset.Args()
		if len(rest) == 0 {
			break
		}
		// After "--" everything is positional; otherwise flags may follow the directory.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	switch {
	case len(positional) > 1:
		fmt.Fprintf(fset.Output(), "unexpected argument %q: one policy directory only\n", positional[1])
		fset.Usage()
		return errUsage
	case len(positional) == 1 && *dir != "" && *dir != positional[0]:
		fmt.Fprintf(fset.Output(), "two policy directories given (%q and --dir %q): give one\n", positional[0], *dir)
		return errUsage
	case len(positional) == 1:
		*dir = positional[0]
	}
	return nil
}

func runPolicyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("policy test", "policy test [DIR | --dir DIR] [--coverage] [--json]", stderr)
	dir := fset.String("dir", "", policyDirHelp)
	coverage := fset.Bool("coverage", false, "report the policy lines the tests evaluate, and those they miss")
	asJSON := fset.Bool("json", false, "print the report as JSON")
	if err := parseDirArgs(fset, args, dir); err != nil {
		return err
	}
	files, err := policyFiles(*dir)
	if err != nil {
		return err
	}
	rep, err := policy.RunTests(ctx, files, *coverage)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, f := range rep.Failures {
			fmt.Fprintln(stdout, "FAIL", f)
		}
		if rep.Coverage != nil {
			for _, name := range sortedFileNames(rep.Coverage.Files) {
				if strings.HasSuffix(name, "_test.rego") {
					continue
				}
				fr := rep.Coverage.Files[name]
				fmt.Fprintf(stdout, "coverage %s: %.1f%%", name, fr.Coverage)
				for _, r := range fr.NotCovered {
					fmt.Fprintf(stdout, " (lines %d-%d not covered)", r.Start.Row, r.End.Row)
				}
				fmt.Fprintln(stdout)
			}
		}
		fmt.Fprintln(stdout, rep.Summary())
	}
	if !rep.OK() {
		return errFound
	}
	return nil
}

func sortedFileNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func runPolicyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("policy check", "policy check [DIR | --dir DIR]", stderr)
	dir := fset.String("dir", "", policyDirHelp)
	if err := parseDirArgs(fset, args, dir); err != nil {
		return err
	}
	files, err := policyFiles(*dir)
	if err != nil {
		return err
	}
	rev, err := policy.Compile(ctx, files)
	if err != nil {
		return err
	}
	changed, err := policy.Format(files)
	if err != nil {
		return err
	}
	for _, p := range sortedFileNames(changed) {
		fmt.Fprintf(stdout, "%s: not in opa fmt layout (run govgate policy fmt --dir)\n", p)
	}
	if len(changed) > 0 {
		return errFound
	}
	fmt.Fprintf(stdout, "ok: revision %s compiles in strict mode; the policy reads %s\n", rev.ID, strings.Join(rev.Reads(), ", "))
	return nil
}

func runPolicyFmt(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("policy fmt", "policy fmt DIR | --dir DIR [--list]", stderr)
	dir := fset.String("dir", "", "policy directory whose Rego files are rewritten (required)")
	list := fset.Bool("list", false, "only list the files whose layout differs; exit 1 if any")
	if err := parseDirArgs(fset, args, dir); err != nil {
		return err
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "govgate policy fmt: a directory is required (DIR or --dir); the shipped policy cannot be rewritten")
		return errUsage
	}
	files, err := policyFiles(*dir)
	if err != nil {
		return err
	}
	changed, err := policy.Format(files)
	if err != nil {
		return err
	}
	for _, p := range sortedFileNames(changed) {
		fmt.Fprintln(stdout, p)
		if *list {
			continue
		}
		full := filepath.Join(*dir, filepath.FromSlash(p))
		info, err := os.Stat(full)
		if err != nil {
			return err
		}
		if err := os.WriteFile(full, changed[p], info.Mode().Perm()); err != nil {
			return fmt.Errorf("format %s: %w", full, err)
		}
	}
	if *list && len(changed) > 0 {
		return errFound
	}
	return nil
}

func runPolicyEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("policy eval", "policy eval --input FILE [DIR | --dir DIR] [--explain] [--fail]", stderr)
	dir := fset.String("dir", "", policyDirHelp)
	input := fset.String("input", "", "input document as JSON (DESIGN.md's policy input); - reads stdin")
	explain := fset.Bool("explain", false, "also list the rules that fired, with file and line")
	fail := fset.Bool("fail", false, "exit 1 when the decision is a denial (the decision is still printed), for scripts")
	if err := parseDirArgs(fset, args, dir); err != nil {
		return err
	}
	if *input == "" {
		fmt.Fprintln(stderr, "govgate policy eval: --input is required")
		return errUsage
	}
	var raw []byte
	var err error
	if *input == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(*input)
	}
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	files, err := policyFiles(*dir)
	if err != nil {
		return err
	}
	rev, err := policy.Compile(ctx, files)
	if err != nil {
		return err
	}
	out, err := policy.EvalOn(ctx, rev, raw, *explain)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return err
	}
	if *fail && !out.Decision.Allow {
		fmt.Fprintf(stderr, "denied: %s\n", strings.Join(out.Decision.ReasonCodes(), ", "))
		return errFound
	}
	return nil
}

func runPolicyInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("policy init", "policy init DIR | --dir DIR", stderr)
	dir := fset.String("dir", "", "directory to create with the shipped policy (must not exist or be empty)")
	if err := parseDirArgs(fset, args, dir); err != nil {
		return err
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "govgate policy init: a directory is required (DIR or --dir)")
		return errUsage
	}
	if entries, err := os.ReadDir(*dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; nothing was written", *dir)
	}
	if err := shipped.WriteTo(*dir); err != nil {
		return fmt.Errorf("write policy to %s: %w", *dir, err)
	}
	fmt.Fprintf(stdout, "wrote the shipped policy to %s; set policy.dir to it, edit, and run govgate policy test --dir %s\n", *dir, *dir)
	return nil
}
