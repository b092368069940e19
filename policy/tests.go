package policy

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestReport is the outcome of a revision's Rego tests.
type TestReport struct {
	Passed   int           `json:"passed"`
	Failed   int           `json:"failed"`
	Skipped  int           `json:"skipped"`
	Failures []string      `json:"failures,omitempty"` // "file:row package.test: why"
	Duration time.Duration `json:"duration_ns"`
	// Coverage is the percentage of policy lines the tests evaluated, when asked for.
	Coverage *cover.Report `json:"coverage,omitempty"`
}

// OK reports whether every test passed and there was at least one.
func (r *TestReport) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// Summary is one line for logs and the command line.
func (r *TestReport) Summary() string {
	s := fmt.Sprintf("%d passed, %d failed, %d skipped in %s", r.Passed, r.Failed, r.Skipped, r.Duration.Round(time.Millisecond))
	if r.Coverage != nil {
		s += fmt.Sprintf(", %.1f%% of policy lines covered", r.Coverage.Coverage)
	}
	return s
}

// RunTests runs every test_ rule in the files' _test.rego modules through OPA's tester,
// against the files' own data, with the same strict compiler and builtins as a decision.
func RunTests(ctx context.Context, files *Files, withCoverage bool) (*TestReport, error) {
	root, src, err := mergeData(files.Data)
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	// Data the gateway would refuse is reported here too, rather than tested as if it
	// could go live.
	if _, err := parseData(root, src); err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	dataValue, err := ast.InterfaceToValue(root)
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	sortShared(dataValue)
	caps := capabilities()
	modules, err := parseModules(files, caps)
	if err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithStrict(true).WithCapabilities(caps)).
		SetStore(inmem.NewFromASTObject(dataValue.(ast.Object))).
		SetModules(modules).
		SetTimeout(time.Minute).
		RaiseBuiltinErrors(true)
	var cov *cover.Cover
	if withCoverage {
		cov = cover.New()
		runner.SetCoverageQueryTracer(cov)
	}
	start := time.Now()
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("run policy tests: %w", err)
	}
	rep := &TestReport{}
	for r := range ch {
		switch {
		case r.Skip:
			rep.Skipped++
		case r.Pass():
			rep.Passed++
		default:
			rep.Failed++
			why := "failed"
			if r.Error != nil {
				why = r.Error.Error()
			}
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s:%d %s.%s: %s", r.Location.File, r.Location.Row, r.Package, r.Name, why))
		}
	}
	rep.Duration = time.Since(start)
	sort.Strings(rep.Failures)
	if cov != nil {
		prod := map[string]*ast.Module{}
		for p, m := range modules {
			if !isTestModule(p) {
				prod[p] = m
			}
		}
		report := cov.Report(prod)
		rep.Coverage = &report
	}
	return rep, nil
}
