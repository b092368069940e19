package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"

	shipped "github.com/govgate/govgate/rego"
)

// TestFastPathDecidesAsPolicyShipped: the shipped policy goes live with its fast path on,
// checked on the default number of inputs, and a larger differential run over its data
// (8,000 inputs; 1,500 under the race detector) finds no input the two paths decide
// differently. The generated inputs are not all
// alike: both allows and denies, and most reason codes, occur among them.
func TestFastPathDecidesAsPolicyShipped(t *testing.T) {
	e := newEngine(t, Options{})
	s := e.Status()
	if s.FastPath == nil || !s.FastPath.Enabled || s.FastPath.Inputs != DefaultFastPathCheckInputs {
		t.Fatalf("fast path after load: %+v", s.FastPath)
	}
	rev := e.Revision()
	n := 8000
	if raceEnabled {
		n = 1500
	}
	rep, err := rev.CheckFastPath(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Declined > rep.Inputs/10 {
		t.Errorf("the fast path declined %d of %d inputs: it is hardly a fast path", rep.Declined, rep.Inputs)
	}
	allowed, codes := decisionSpread(t, rev, fastCheckInputs(rev, 1500))
	if allowed < 150 || allowed > 1350 {
		t.Errorf("%d of 1500 generated inputs allowed: the check does not exercise both outcomes (%v)", allowed, codes)
	}
	for _, c := range []string{"DEPT_UNKNOWN", "RESOURCE_UNKNOWN", "SHARING_NONE", "MODE_NOT_OFFERED", "METHOD_NOT_ALLOWED",
		"ZONE_UNKNOWN", "LABEL_ABOVE_CEILING", "LABEL_ABOVE_CLEARANCE", "AGREEMENT_REQUIRED", "AGREEMENT_NOT_FOUND",
		"AGREEMENT_EXPIRED", "AGREEMENT_NOT_YET_VALID", "AGREEMENT_MODE_NOT_COVERED", "PURPOSE_REQUIRED",
		"PURPOSE_NOT_COVERED", "SIGNATURE_REQUIRED", "TIME_MISSING"} {
		if codes[c] == 0 {
			t.Errorf("no generated input is denied with %s", c)
		}
	}
}

// TestFastPathDecidesAsPolicyLarge runs the differential check over the 10,000-agreement
// data with enough inputs that every agreement list is met at least once (under the race
// detector, 2,000 of them).
func TestFastPathDecidesAsPolicyLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("decides 11,500 inputs twice")
	}
	rev, err := Compile(context.Background(), largeFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 11500
	if raceEnabled {
		n = 2000
	}
	rep, err := rev.CheckFastPath(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Enabled || rep.Declined > rep.Inputs/10 {
		t.Errorf("large data: %+v", rep)
	}
	t.Logf("differential check over %d inputs at 10,000 agreements: %s", rep.Inputs, rep.Duration)
}

func shippedFiles(t testing.TB) *Files {
	t.Helper()
	f, err := ReadFiles(shipped.FS())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// decisionSpread decides inputs by the full evaluation and counts the allows and each
// reason code.
func decisionSpread(t *testing.T, rev *Revision, inputs []ast.Value) (int, map[string]int) {
	t.Helper()
	allowed, codes := 0, map[string]int{}
	for _, in := range inputs {
		v, err := rev.evalValue(context.Background(), in)
		if err != nil {
			codes["error"]++
			continue
		}
		d, err := decodeDecision(v, rev, "")
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow {
			allowed++
		}
		for _, c := range d.ReasonCodes() {
			codes[c]++
		}
	}
	return allowed, codes
}

// planFunc finds a planned function by the rule it plans.
func planFunc(t *testing.T, rev *Revision, rule string) *ir.Func {
	t.Helper()
	for _, f := range rev.plan.funcs {
		if f.fn.Name == "g0.data.govgate.authz."+rule {
			return f.fn
		}
	}
	t.Fatalf("no planned function for %s", rule)
	return nil
}

// allowEverything makes the plan's allow rule true whatever the input: a fast path that
// lets through what the policy refuses.
func allowEverything(t *testing.T) func(*Revision) {
	return func(rev *Revision) {
		f := planFunc(t, rev, "allow")
		f.Blocks = []*ir.Block{{Stmts: []ir.Stmt{
			&ir.AssignVarStmt{Source: ir.Operand{Value: ir.Bool(true)}, Target: f.Return},
			&ir.ReturnLocalStmt{Source: f.Return},
		}}}
	}
}

// TestReloadRefusesFastPathThatDiffers: a revision whose fast path would allow what its
// policy denies does not go live. The reload fails with an error naming the input and
// both answers, the metric counts it, and the running revision keeps deciding.
func TestReloadRefusesFastPathThatDiffers(t *testing.T) {
	dir := copyShipped(t)
	e := newEngine(t, Options{Dir: dir})
	ctx := context.Background()
	first := e.Revision().ID

	e.tamper = allowEverything(t)
	edit(t, dir, "agreements.yaml", "purposes: [social-insurance-check, pension-eligibility]", "purposes: [pension-eligibility]")
	rev, changed, err := e.Reload(ctx)
	if !errors.Is(err, ErrFastPathDiffers) {
		t.Fatalf("reload of a revision whose fast path lies: %v", err)
	}
	for _, want := range []string{"on input", "the fast path decides", `"allow": true`, `"allow": false`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if changed || rev.ID != first || e.Revision().ID != first {
		t.Fatal("the refused revision went live")
	}
	s := e.Status()
	if s.FastPathDiffers != 1 || s.Failures != 1 || !strings.Contains(s.LastError, "differs from the full policy") {
		t.Errorf("status after the refusal: differs=%d failures=%d last=%q", s.FastPathDiffers, s.Failures, s.LastError)
	}
	d, err := e.Decide(ctx, taxQuery())
	if err != nil || !d.Allow {
		t.Errorf("the running revision no longer decides: %+v %v", d, err)
	}

	// Without the fault, the same files go live, fast path and all.
	e.tamper = nil
	if _, changed, err := e.Reload(ctx); err != nil || !changed {
		t.Fatalf("reload without the fault: changed=%v %v", changed, err)
	}
	if d, err := e.Decide(ctx, taxQuery()); err != nil || d.Allow || codesOf(d) != "PURPOSE_NOT_COVERED" {
		t.Errorf("after the edit: %+v %v", d, err)
	}
	if !e.Status().FastPath.Enabled {
		t.Error("the fast path is off after a clean reload")
	}
}

// TestFastPathRefusedWhenOnlyAMessageDiffers: the check compares whole decision
// documents, not just allow: a fast path that words one denial differently is refused.
func TestFastPathRefusedWhenOnlyAMessageDiffers(t *testing.T) {
	rev, err := Compile(context.Background(), shippedFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range rev.plan.strings {
		if strings.HasPrefix(string(s.Value.(ast.String)), "zone %q is not configured") {
			rev.plan.strings[i] = ast.StringTerm("zone %q is not configured.")
		}
	}
	if _, err := rev.CheckFastPath(context.Background(), 0); !errors.Is(err, ErrFastPathDiffers) || !strings.Contains(err.Error(), "ZONE_UNKNOWN") {
		t.Fatalf("a fast path with another message: %v", err)
	}
	if rev.fast != nil {
		t.Fatal("the refused fast path decides")
	}
	d, err := rev.Evaluate(context.Background(), taxQuery())
	if err != nil || !d.Allow {
		t.Errorf("full evaluation after the refusal: %+v %v", d, err)
	}
}

// TestFastPathDeclinesToFullEvaluation: where the plan cannot decide, the decision is
// the full evaluation's, and the fallback is counted.
func TestFastPathDeclinesToFullEvaluation(t *testing.T) {
	e := newEngine(t, Options{})
	rev := e.Revision()
	want, err := rev.EvaluateFull(context.Background(), taxQuery())
	if err != nil {
		t.Fatal(err)
	}
	// max_label now merges null into the input: a conflict, which the plan reports.
	f := planFunc(t, rev, "max_label")
	f.Blocks = append([]*ir.Block{{Stmts: []ir.Stmt{
		&ir.MakeNullStmt{Target: f.Return},
		&ir.ObjectMergeStmt{A: f.Return, B: ir.Input, Target: f.Return},
	}}}, f.Blocks...)
	got, err := e.Decide(context.Background(), taxQuery())
	if err != nil {
		t.Fatal(err)
	}
	if got.Allow != want.Allow || got.MaxLabel != want.MaxLabel || codesOf(got) != codesOf(want) {
		t.Errorf("fallback decided %+v, the policy %+v", got, want)
	}
	if n := e.Status().FastPathFallbacks; n != 1 {
		t.Errorf("fallbacks: %d, want 1", n)
	}
}

// TestFastPathOff: an operator can turn the fast path off; decisions are the same.
func TestFastPathOff(t *testing.T) {
	e := newEngine(t, Options{FastPathCheckInputs: -1})
	if s := e.Status(); s.FastPath == nil || s.FastPath.Enabled || s.FastPath.Reason == "" {
		t.Fatalf("fast path: %+v", s.FastPath)
	}
	d, err := e.Decide(context.Background(), taxQuery())
	if err != nil || !d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
}
