package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/compile"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// fastPath is the decision query of one revision compiled by OPA's planner into its
// intermediate representation (the plan OPA's Wasm target is built from) and run by
// fastVM. The topdown evaluator unifies and backtracks through every rule; the plan is
// the same rules as straight-line code with the lookups resolved at load, so a decision
// costs a fraction as much. The full evaluation stays the oracle: a revision goes live
// only when both decide alike on every input of the differential check (checkFastPath),
// and any input on which the plan errs is decided again by the full evaluation.
type fastPath struct {
	plan       *ir.Plan
	planLocals int
	funcs      []*fastFunc
	byName     map[string]int
	strings    []*ast.Term
	// calls resolves every call statement once: to a planned function (fn >= 0) or to
	// a built-in.
	calls map[*ir.CallStmt]fastCall
	// stack is the frame space one decision needs at most: Rego has no recursion, so a
	// chain of calls names each function once at most.
	stack int
}

type fastCall struct {
	fn      int
	builtin topdown.BuiltinFunc
	// relation marks a built-in that gives any number of outputs (walk): topdown hands
	// them to its callback one by one, the plan scans the collection of them all, as
	// OPA's Wasm built-in returns it.
	relation bool
}

// fastFunc is one planned function (a rule, or a Rego function) with what its calls
// resolve to, so that evaluating never looks a name up.
type fastFunc struct {
	fn     *ir.Func
	locals int
	// memo: a function of (input, data) only is evaluated once per decision.
	memo bool
}

// errNoFastPath marks a revision whose plan uses something fastVM does not run (a
// `with` statement, a dynamic call, a built-in topdown lacks). Its decisions all take
// the full evaluation: slower, and just as much the policy's.
var errNoFastPath = errors.New("no fast path")

// planDecision plans DecisionQuery for the revision's production modules.
func planDecision(ctx context.Context, rev *Revision) (*fastPath, error) {
	if loc := indexedComprehension(rev.compiler); loc != nil {
		return nil, fmt.Errorf("plan %s: the comprehension at %s is indexed by OPA's evaluator, which then evaluates it for every value of the variables it closes over (and fails where a built-in fails on any of them), the plan only for the bound ones: %w", DecisionQuery, loc, errNoFastPath)
	}
	return planModules(ctx, rev)
}

// planModules compiles the production modules to the plan of DecisionQuery.
func planModules(ctx context.Context, rev *Revision) (*fastPath, error) {
	b := &bundle.Bundle{}
	for _, p := range sortedKeys(rev.compiler.Modules) {
		b.Modules = append(b.Modules, bundle.ModuleFile{Path: p, URL: p, Raw: rev.Files.Modules[p], Parsed: rev.compiler.Modules[p]})
	}
	c := compile.New().
		WithTarget(compile.TargetPlan).
		WithRegoVersion(ast.RegoV1).
		WithCapabilities(capabilities()).
		WithEntrypoints("govgate/authz/decision").
		WithPruneUnused(true).
		WithBundle(b).
		WithOutput(io.Discard)
	if err := c.Build(ctx); err != nil {
		return nil, fmt.Errorf("plan %s: %w", DecisionQuery, err)
	}
	mods := c.Bundle().PlanModules
	if len(mods) != 1 {
		return nil, fmt.Errorf("plan %s: %d plan modules, want 1", DecisionQuery, len(mods))
	}
	var pol ir.Policy
	if err := json.Unmarshal(mods[0].Raw, &pol); err != nil {
		return nil, fmt.Errorf("plan %s: %w", DecisionQuery, err)
	}
	return newFastPath(&pol)
}

// indexedComprehension finds a comprehension, in a rule the decision depends on, that
// topdown evaluates through a comprehension index: once with the variables it closes
// over left unbound, so for every value they could take. With strict built-in errors a
// built-in failing on any of those values fails the whole decision, where the plan,
// evaluating the comprehension for the bound values only, answers. Such a revision is
// decided in full.
func indexedComprehension(c *ast.Compiler) *ast.Location {
	queue := c.GetRulesForVirtualDocument(ast.MustParseRef(DecisionQuery))
	seen := map[*ast.Rule]bool{}
	var found *ast.Location
	for len(queue) > 0 && found == nil {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		ast.WalkTerms(r, func(t *ast.Term) bool {
			if found == nil && c.ComprehensionIndex(t) != nil {
				found = t.Location
			}
			return found != nil
		})
		for dep := range c.Graph.Dependencies(r) {
			if d, ok := dep.(*ast.Rule); ok {
				queue = append(queue, d)
			}
		}
	}
	return found
}

func newFastPath(pol *ir.Policy) (*fastPath, error) {
	if pol.Plans == nil || len(pol.Plans.Plans) != 1 {
		return nil, fmt.Errorf("plan %s: want one plan: %w", DecisionQuery, errNoFastPath)
	}
	fp := &fastPath{plan: pol.Plans.Plans[0], byName: map[string]int{}, calls: map[*ir.CallStmt]fastCall{}}
	fp.planLocals = maxLocal(&ir.Func{Blocks: fp.plan.Blocks}) + 1
	fp.stack = fp.planLocals
	for _, s := range pol.Static.Strings {
		fp.strings = append(fp.strings, ast.StringTerm(s.Value))
	}
	if pol.Funcs != nil {
		for i, f := range pol.Funcs.Funcs {
			fp.byName[f.Name] = i
			ff := &fastFunc{fn: f, locals: maxLocal(f) + 1, memo: len(f.Params) == 2}
			fp.funcs = append(fp.funcs, ff)
			fp.stack += ff.locals
		}
	}
	if err := fp.check(); err != nil {
		return nil, err
	}
	for _, b := range fp.plan.Blocks {
		fp.bindCalls(b)
	}
	for _, f := range fp.funcs {
		for _, b := range f.fn.Blocks {
			fp.bindCalls(b)
		}
	}
	return fp, nil
}

// boundCall is a call statement with its target resolved at load, so that a decision
// never looks a function up by name.
type boundCall struct {
	*ir.CallStmt
	to fastCall
}

// bindCalls replaces every call statement under b by its boundCall.
func (fp *fastPath) bindCalls(b *ir.Block) {
	for i, s := range b.Stmts {
		switch s := s.(type) {
		case *ir.CallStmt:
			b.Stmts[i] = &boundCall{CallStmt: s, to: fp.calls[s]}
		case *ir.BlockStmt:
			for _, inner := range s.Blocks {
				fp.bindCalls(inner)
			}
		case *ir.ScanStmt:
			fp.bindCalls(s.Block)
		case *ir.NotStmt:
			fp.bindCalls(s.Block)
		}
	}
}

// check refuses a plan with a statement fastVM does not run or a call to a function it
// cannot find, now rather than in the middle of a decision.
func (fp *fastPath) check() error {
	var err error
	visit := func(x any) bool {
		if err != nil {
			return true
		}
		switch s := x.(type) {
		case *ir.WithStmt, *ir.CallDynamicStmt:
			err = fmt.Errorf("plan uses %T: %w", s, errNoFastPath)
		case *ir.CallStmt:
			if i, ok := fp.byName[s.Func]; ok {
				fp.calls[s] = fastCall{fn: i}
			} else if b := topdown.GetBuiltin(s.Func); b != nil {
				fp.calls[s] = fastCall{fn: -1, builtin: b, relation: ast.BuiltinMap[s.Func] != nil && ast.BuiltinMap[s.Func].Relation}
			} else {
				err = fmt.Errorf("plan calls %s, which is neither planned nor a built-in: %w", s.Func, errNoFastPath)
			}
		}
		return false
	}
	for _, b := range fp.plan.Blocks {
		ir.Walk(visitorFunc(visit), b)
	}
	for _, f := range fp.funcs {
		for _, b := range f.fn.Blocks {
			ir.Walk(visitorFunc(visit), b)
		}
	}
	return err
}

type visitorFunc func(any) bool

func (f visitorFunc) Before(any)                      {}
func (f visitorFunc) After(any)                       {}
func (f visitorFunc) Visit(x any) (ir.Visitor, error) { f(x); return f, nil }

// maxLocal is the highest local a function's statements name, for sizing its frame.
// The statements' fields are read by reflection: a Local or Operand anywhere counts, so
// a statement type added to OPA's IR later cannot be mis-sized.
func maxLocal(f *ir.Func) int {
	m := int(ir.Data)
	see := func(l ir.Local) { m = max(m, int(l)) }
	for _, p := range f.Params {
		see(p)
	}
	see(f.Return)
	for _, b := range f.Blocks {
		ir.Walk(visitorFunc(func(x any) bool {
			if s, ok := x.(ir.Stmt); ok {
				stmtLocals(reflect.ValueOf(s), see)
			}
			return false
		}), b)
	}
	return m
}

var (
	localType   = reflect.TypeFor[ir.Local]()
	operandType = reflect.TypeFor[ir.Operand]()
)

func stmtLocals(v reflect.Value, see func(ir.Local)) {
	switch {
	case v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface:
		if !v.IsNil() {
			stmtLocals(v.Elem(), see)
		}
	case v.Type() == localType:
		see(ir.Local(v.Int()))
	case v.Type() == operandType:
		switch l := v.Interface().(ir.Operand).Value.(type) {
		case ir.Local:
			see(l)
		case *ir.Local:
			see(*l)
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			stmtLocals(v.Index(i), see)
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && v.Type().Field(i).Type != reflect.TypeFor[*ir.Block]() && v.Type().Field(i).Type != reflect.TypeFor[[]*ir.Block]() {
				stmtLocals(v.Field(i), see)
			}
		}
	}
}
