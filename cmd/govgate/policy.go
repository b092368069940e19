package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govgate/govgate/policy"
	shipped "github.com/govgate/govgate/rego"
)

func policyCmd() *cobra.Command {
	return group("policy", "test, check, format and evaluate the Rego policy (security officers)",
		`Commands for security officers (安全管理员).
Every command reads the policy directory given as DIR or --dir DIR (as opa test DIR
does), or the shipped policy when none is given. Exit status: 0 ok; 1 an error or
problems found (failing tests, files out of layout, with eval --fail a denial); 2 usage.`,
		policyInitCmd(), policyTestCmd(), policyCheckCmd(), policyFmtCmd(), policyEvalCmd(),
		policyBuildCmd(), policySignCmd())
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

// policyDir takes the policy directory from the one positional argument, as opa test
// DIR and opa check DIR do, or from --dir, kept for scripts written against it; giving
// both is refused rather than guessed.
func policyDir(args []string, dir string) (string, error) {
	switch {
	case len(args) > 1:
		return "", usageErrorf("unexpected argument %q: one policy directory only", args[1])
	case len(args) == 1 && dir != "" && dir != args[0]:
		return "", usageErrorf("two policy directories given (%q and --dir %q): give one", args[0], dir)
	case len(args) == 1:
		return args[0], nil
	}
	return dir, nil
}

func policyTestCmd() *cobra.Command {
	return leaf("test [DIR | --dir DIR] [--coverage] [--json]", "run the Rego tests (with --coverage, the lines they evaluate)", anyArgs, func(fset *pflag.FlagSet) runFunc {
		dir := fset.String("dir", "", policyDirHelp)
		coverage := fset.Bool("coverage", false, "report the policy lines the tests evaluate, and those they miss")
		asJSON := fset.Bool("json", false, "print the report as JSON (docs/architecture.md): ok, the counts, every failure")
		return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
			d, err := policyDir(args, *dir)
			if err != nil {
				return err
			}
			return policyTest(ctx, d, *coverage, *asJSON, stdout)
		}
	})
}

func policyTest(ctx context.Context, dir string, coverage, asJSON bool, stdout io.Writer) error {
	files, err := policyFiles(dir)
	if err != nil {
		return err
	}
	rep, err := policy.RunTests(ctx, files, coverage)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(stdout, struct {
			OK bool `json:"ok"`
			*policy.TestReport
		}{rep.OK(), rep}); err != nil {
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

func policyCheckCmd() *cobra.Command {
	return leaf("check [DIR | --dir DIR]", "compile strictly, check the data documents and the layout of every file", anyArgs, func(fset *pflag.FlagSet) runFunc {
		dir := fset.String("dir", "", policyDirHelp)
		asJSON := fset.Bool("json", false, jsonHelp)
		return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
			d, err := policyDir(args, *dir)
			if err != nil {
				return err
			}
			return policyCheck(ctx, d, *asJSON, stdout)
		}
	})
}

// checkJSON is `policy check --json` (docs/architecture.md).
type checkJSON struct {
	OK          bool     `json:"ok"`
	Revision    string   `json:"revision"`
	Reads       []string `json:"reads"`       // the data documents the policy reads
	Unformatted []string `json:"unformatted"` // files not in opa fmt layout
}

func policyCheck(ctx context.Context, dir string, asJSON bool, stdout io.Writer) error {
	files, err := policyFiles(dir)
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
	if asJSON {
		unformatted := sortedFileNames(changed)
		if err := writeJSON(stdout, checkJSON{OK: len(changed) == 0, Revision: rev.ID, Reads: rev.Reads(), Unformatted: unformatted}); err != nil {
			return err
		}
		if len(changed) > 0 {
			return errFound
		}
		return nil
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

func policyFmtCmd() *cobra.Command {
	return leaf("fmt DIR | --dir DIR [--list]", "rewrite Rego files in opa fmt's layout (--list to only name them)", anyArgs, func(fset *pflag.FlagSet) runFunc {
		dir := fset.String("dir", "", "policy directory whose Rego files are rewritten (required)")
		list := fset.Bool("list", false, "only list the files whose layout differs; exit 1 if any")
		return func(_ context.Context, args []string, stdout, _ io.Writer) error {
			d, err := policyDir(args, *dir)
			if err != nil {
				return err
			}
			if d == "" {
				return usageErrorf("a directory is required (DIR or --dir); the shipped policy cannot be rewritten")
			}
			return policyFmt(d, *list, stdout)
		}
	})
}

func policyFmt(dir string, list bool, stdout io.Writer) error {
	files, err := policyFiles(dir)
	if err != nil {
		return err
	}
	changed, err := policy.Format(files)
	if err != nil {
		return err
	}
	for _, p := range sortedFileNames(changed) {
		fmt.Fprintln(stdout, p)
		if list {
			continue
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		info, err := os.Stat(full)
		if err != nil {
			return err
		}
		if err := os.WriteFile(full, changed[p], info.Mode().Perm()); err != nil {
			return fmt.Errorf("format %s: %w", full, err)
		}
	}
	if list && len(changed) > 0 {
		return errFound
	}
	return nil
}

func policyEvalCmd() *cobra.Command {
	return leaf("eval --input FILE [DIR | --dir DIR] [--explain] [--fail]", "evaluate one input document and print the decision (--explain: the rules that fired)", anyArgs, func(fset *pflag.FlagSet) runFunc {
		dir := fset.String("dir", "", policyDirHelp)
		input := fset.String("input", "", "input document as JSON (DESIGN.md's policy input); - reads stdin")
		explain := fset.Bool("explain", false, "also list the rules that fired, with file and line")
		fail := fset.Bool("fail", false, "exit 1 when the decision is a denial (the decision is still printed), for scripts")
		fset.Bool("json", false, "accepted for scripts that ask: the decision is always printed as JSON (docs/architecture.md)")
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			d, err := policyDir(args, *dir)
			if err != nil {
				return err
			}
			if *input == "" {
				return usageErrorf("--input is required")
			}
			return policyEval(ctx, d, *input, *explain, *fail, stdout, stderr)
		}
	})
}

func policyEval(ctx context.Context, dir, input string, explain, fail bool, stdout, stderr io.Writer) error {
	var raw []byte
	var err error
	if input == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(input)
	}
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	files, err := policyFiles(dir)
	if err != nil {
		return err
	}
	rev, err := policy.Compile(ctx, files)
	if err != nil {
		return err
	}
	out, err := policy.EvalOn(ctx, rev, raw, explain)
	if err != nil {
		return fmt.Errorf("%s: %w", input, err)
	}
	if err := writeJSON(stdout, out); err != nil {
		return err
	}
	if fail && !out.Decision.Allow {
		fmt.Fprintf(stderr, "denied: %s\n", strings.Join(out.Decision.ReasonCodes(), ", "))
		return errFound
	}
	return nil
}

func policyInitCmd() *cobra.Command {
	return leaf("init DIR | --dir DIR", "write the shipped policy and example data into a new directory to start from", anyArgs, func(fset *pflag.FlagSet) runFunc {
		dir := fset.String("dir", "", "directory to create with the shipped policy (must not exist or be empty)")
		return func(_ context.Context, args []string, stdout, _ io.Writer) error {
			d, err := policyDir(args, *dir)
			if err != nil {
				return err
			}
			if d == "" {
				return usageErrorf("a directory is required (DIR or --dir)")
			}
			return policyInit(d, stdout)
		}
	})
}

func policyInit(dir string, stdout io.Writer) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; nothing was written", dir)
	}
	if err := shipped.WriteTo(dir); err != nil {
		return fmt.Errorf("write policy to %s: %w", dir, err)
	}
	fmt.Fprintf(stdout, "wrote the shipped policy to %s; set policy.dir to it, edit, and run govgate policy test --dir %s\n", dir, dir)
	return nil
}
