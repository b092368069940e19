package main

import (
	"context"
	"encoding/json"
	"errors"
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
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprint(stderr, `Usage: govgate policy <command> [flags]

Commands, for security officers (安全管理员):
  init    write the shipped policy and example data into a new directory to start from
  test    run the Rego tests (with --coverage, the lines they evaluate)
  check   compile strictly, check the data documents and the layout of every file
  fmt     rewrite Rego files in opa fmt's layout (--list to only name them)
  eval    evaluate one input document and print the decision (--explain: the rules that fired)

Every command reads --dir DIR, or the shipped policy when --dir is not given.
`)
		return errUsage
	}
	err := sub[args[0]](ctx, args[1:], stdout, stderr)
	if errors.Is(err, errFound) {
		return errUsage
	}
	return err
}

// policyFiles reads the policy directory, or the shipped policy when dir is empty.
func policyFiles(dir string) (*policy.Files, error) {
	var fsys fs.FS = shipped.FS()
	if dir != "" {
		fsys = os.DirFS(dir)
	}
	return policy.ReadFiles(fsys)
}

const policyDirHelp = "policy directory (Rego and data); empty: the shipped policy"

func runPolicyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("policy test", "policy test [--dir DIR] [--coverage] [--json]", stderr)
	dir := fset.String("dir", "", policyDirHelp)
	coverage := fset.Bool("coverage", false, "report the policy lines the tests evaluate, and those they miss")
	asJSON := fset.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fset, args); err != nil {
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
	fset := newFlagSet("policy check", "policy check [--dir DIR]", stderr)
	dir := fset.String("dir", "", policyDirHelp)
	if err := parseFlags(fset, args); err != nil {
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
	fset := newFlagSet("policy fmt", "policy fmt --dir DIR [--list]", stderr)
	dir := fset.String("dir", "", "policy directory whose Rego files are rewritten (required)")
	list := fset.Bool("list", false, "only list the files whose layout differs; exit 2 if any")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "govgate policy fmt: --dir is required; the shipped policy cannot be rewritten")
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
	fset := newFlagSet("policy eval", "policy eval --input FILE [--dir DIR] [--explain]", stderr)
	dir := fset.String("dir", "", policyDirHelp)
	input := fset.String("input", "", "input document as JSON (DESIGN.md's policy input); - reads stdin")
	explain := fset.Bool("explain", false, "also list the rules that fired, with file and line")
	if err := parseFlags(fset, args); err != nil {
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
	return enc.Encode(out)
}

func runPolicyInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("policy init", "policy init --dir DIR", stderr)
	dir := fset.String("dir", "", "directory to create with the shipped policy (must not exist or be empty)")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "govgate policy init: --dir is required")
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
