package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// The queries of DESIGN.md's policy contract.
const (
	DecisionQuery = "data.govgate.authz.decision"
	CatalogQuery  = "data.govgate.catalog.entries"
)

// Revision is one compiled, immutable state of policy and data. Everything a decision
// needs is prepared once here, so evaluating is only evaluating.
type Revision struct {
	ID       string
	LoadedAt time.Time
	Files    *Files

	modules       map[string]*ast.Module // parsed, tests included
	compiler      *ast.Compiler          // production modules only
	store         storage.Store
	decision      rego.PreparedEvalQuery
	catalog       *rego.PreparedEvalQuery // nil when the policy has no catalog package
	data          *Data
	labelRank     map[string]int
	reads         leafSet              // input leaves the policy can read
	resourceTerms map[string]*ast.Term // input.resource of each catalog entry
	bounds        map[string]map[string][]time.Time

	// plan is the planned decision query (see fastPath), nil when the plan uses what the
	// fast path does not run, and then planErr says why. fast is plan once the
	// differential check has found it deciding as the full evaluation does (CheckFastPath);
	// until then every decision takes the full evaluation. dataTerm is the data it reads.
	plan          *fastPath
	planErr       error
	fast          *fastPath
	fastReport    *FastPathReport
	dataTerm      *ast.Term
	fastFallbacks atomic.Uint64
}

// capabilities are OPA's builtins without the nondeterministic ones (time.now_ns,
// http.send, rand.intn, …): a decision is a function of its input and the revision alone,
// so it can be cached, replayed by an auditor, and never waits on the network.
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !b.Nondeterministic {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	return caps
}

// parseModules parses every Rego file as Rego v1.
func parseModules(files *Files, caps *ast.Capabilities) (map[string]*ast.Module, error) {
	out := make(map[string]*ast.Module, len(files.Modules))
	var errs []error
	for _, p := range sortedKeys(files.Modules) {
		m, err := ast.ParseModuleWithOpts(p, string(files.Modules[p]), ast.ParserOptions{
			RegoVersion: ast.RegoV1, ProcessAnnotation: true, Capabilities: caps,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[p] = m
	}
	return out, errors.Join(errs...)
}

// compileModules compiles modules in strict mode (unused variables and imports, shadowed
// names, deprecated builtins are errors).
func compileModules(modules map[string]*ast.Module, caps *ast.Capabilities) (*ast.Compiler, error) {
	c := ast.NewCompiler().WithStrict(true).WithCapabilities(caps).WithEnablePrintStatements(false)
	c.Compile(modules)
	if c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// Compile builds a revision from files: data decoded and checked, every module parsed and
// compiled strictly, the decision query prepared. It does not run the Rego tests; see
// RunTests.
func Compile(ctx context.Context, files *Files) (*Revision, error) {
	root, src, err := mergeData(files.Data)
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	data, err := parseData(root, src)
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	caps := capabilities()
	modules, err := parseModules(files, caps)
	if err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	prod := map[string]*ast.Module{}
	for p, m := range modules {
		if !isTestModule(p) {
			prod[p] = m
		}
	}
	compiler, err := compileModules(prod, caps)
	if err != nil {
		return nil, fmt.Errorf("compile policy: %w", err)
	}
	if len(compiler.GetRulesForVirtualDocument(ast.MustParseRef(DecisionQuery))) == 0 {
		return nil, fmt.Errorf("compile policy: no rule defines %s", DecisionQuery)
	}
	dataValue, err := ast.InterfaceToValue(root)
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	sortShared(dataValue)
	for _, m := range compiler.Modules {
		sortShared(m)
	}
	rev := &Revision{
		ID:        files.ID(),
		LoadedAt:  time.Now(),
		Files:     files,
		modules:   modules,
		compiler:  compiler,
		store:     inmem.NewFromASTObject(dataValue.(ast.Object)),
		data:      data,
		labelRank: map[string]int{},
		reads:     inputReads(compiler),
		dataTerm:  ast.NewTerm(dataValue),
	}
	for i, l := range data.Labels {
		rev.labelRank[l] = i
	}
	rev.indexData()
	if err := rev.prepare(ctx); err != nil {
		return nil, err
	}
	rev.plan, rev.planErr = planDecision(ctx, rev)
	return rev, nil
}

func (rev *Revision) prepare(ctx context.Context) error {
	q, err := rego.New(
		rego.Query(DecisionQuery),
		rego.Compiler(rev.compiler),
		rego.Store(rev.store),
		rego.StoreReadAST(true),
		rego.Strict(true),
		rego.StrictBuiltinErrors(true),
		rego.GenerateJSON(keepAST),
	).PrepareForEval(ctx)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", DecisionQuery, err)
	}
	rev.decision = q
	if len(rev.compiler.GetRulesForVirtualDocument(ast.MustParseRef(CatalogQuery))) == 0 {
		return nil
	}
	cq, err := rego.New(
		rego.Query(CatalogQuery),
		rego.Compiler(rev.compiler),
		rego.Store(rev.store),
		rego.StoreReadAST(true),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", CatalogQuery, err)
	}
	rev.catalog = &cq
	return nil
}

// keepAST hands the result over as the AST value it already is; the default would convert
// it to Go maps only for decodeDecision to walk them again.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }

// indexData prepares per-resource input terms and per-agreement validity boundaries.
func (rev *Revision) indexData() {
	rev.resourceTerms = make(map[string]*ast.Term, len(rev.data.Catalog))
	for id, r := range rev.data.Catalog {
		fields := make([]*ast.Term, 0, len(r.Fields))
		for _, f := range sortedKeys(r.Fields) {
			fields = append(fields, ast.StringTerm(f))
		}
		rev.resourceTerms[id] = ast.ObjectTerm(
			ast.Item(ast.InternedTerm("id"), ast.StringTerm(id)),
			ast.Item(ast.InternedTerm("owner"), ast.StringTerm(r.Owner)),
			ast.Item(ast.InternedTerm("category"), ast.StringTerm(r.Category)),
			ast.Item(ast.InternedTerm("sharing"), ast.StringTerm(r.Sharing)),
			ast.Item(ast.InternedTerm("classification"), ast.StringTerm(r.Classification)),
			ast.Item(ast.InternedTerm("fields"), ast.ArrayTerm(fields...)),
		)
	}
	rev.bounds = make(map[string]map[string][]time.Time, len(rev.data.Agreements))
	for consumer, byResource := range rev.data.Agreements {
		m := make(map[string][]time.Time, len(byResource))
		for res, as := range byResource {
			m[res] = boundaries(as)
		}
		rev.bounds[consumer] = m
	}
}

// inputReads finds every reference to input in the compiled policy and returns the input
// leaves those references can reach. A reference whose path stops being constant (input[x])
// reaches everything under its constant prefix, so the set can only be too large, never too
// small: a cache keyed by it cannot confuse two inputs the policy can tell apart.
func inputReads(c *ast.Compiler) leafSet {
	var s leafSet
	for _, m := range c.Modules {
		ast.WalkRefs(m, func(ref ast.Ref) bool {
			if !ref.HasPrefix(ast.InputRootRef) {
				return false
			}
			var prefix []string
			for _, t := range ref[1:] {
				str, ok := t.Value.(ast.String)
				if !ok {
					break
				}
				prefix = append(prefix, string(str))
			}
			for leaf, path := range inputLeaves {
				if pathsOverlap(prefix, path) {
					s |= 1 << leaf
				}
			}
			return false
		})
	}
	return s
}

func pathsOverlap(a, b []string) bool {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Reads lists the input paths the policy can read, for the admin API and the notes.
func (rev *Revision) Reads() []string {
	var out []string
	for leaf, path := range inputLeaves {
		if rev.reads.has(leaf) {
			out = append(out, "input."+strings.Join(path, "."))
		}
	}
	return out
}

// ReadsQuery reports whether the policy can read the request's query parameters; the
// gateway builds them only then.
func (rev *Revision) ReadsQuery() bool { return rev.reads.has(leafQuery) }

// Data returns the typed view of the revision's data. It must not be changed.
func (rev *Revision) Data() *Data { return rev.data }

// evalValue evaluates the decision query on an input value by the full evaluation and
// returns the decision document.
func (rev *Revision) evalValue(ctx context.Context, input ast.Value, opts ...rego.EvalOption) (ast.Value, error) {
	opts = append(opts, rego.EvalParsedInput(input))
	rs, err := rev.decision.Eval(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s (revision %s): %w", DecisionQuery, rev.ID, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("evaluate %s (revision %s): undefined", DecisionQuery, rev.ID)
	}
	v, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		return nil, fmt.Errorf("evaluate %s (revision %s): result is %T", DecisionQuery, rev.ID, rs[0].Expressions[0].Value)
	}
	return v, nil
}

// eval evaluates the decision query on an input value by the full evaluation.
func (rev *Revision) eval(ctx context.Context, input ast.Value, resource string, opts ...rego.EvalOption) (*Decision, error) {
	v, err := rev.evalValue(ctx, input, opts...)
	if err != nil {
		return nil, err
	}
	d, err := decodeDecision(v, rev, resource)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s (revision %s): %w", DecisionQuery, rev.ID, err)
	}
	return d, nil
}

// Evaluate decides one exchange on this revision, without the cache: by the fast path
// when the revision has one that passed its differential check, and by the full
// evaluation when it has none or when the fast path could not decide (the full
// evaluation then gives the policy's own answer or error).
func (rev *Revision) Evaluate(ctx context.Context, in *Input) (*Decision, error) {
	input := in.value(rev)
	if rev.fast != nil {
		if v, err := rev.fast.eval(ctx, ast.NewTerm(input), rev.dataTerm); err == nil {
			if d, err := decodeDecision(v, rev, in.Resource); err == nil {
				return d, nil
			}
		}
		rev.fastFallbacks.Add(1)
	}
	return rev.eval(ctx, input, in.Resource)
}

// EvaluateFull decides one exchange by the full evaluation alone, the fast path's oracle.
func (rev *Revision) EvaluateFull(ctx context.Context, in *Input) (*Decision, error) {
	return rev.eval(ctx, in.value(rev), in.Resource)
}

// expiry is how long a decision for in may be reused: at most a second, and never past the
// next moment at which one of the consumer's agreements for the resource starts or ends,
// the only time the shipped policy's outcome depends on the clock.
func (rev *Revision) expiry(in *Input) time.Time {
	limit := in.Time.Add(time.Second)
	bs := rev.bounds[in.Subject.Dept][in.Resource]
	i := sort.Search(len(bs), func(i int) bool { return bs[i].After(in.Time) })
	if i < len(bs) && bs[i].Before(limit) {
		return bs[i]
	}
	return limit
}

// traceRules lists the rules a traced evaluation entered and left with a value, in order
// and once each: the rules that fired.
func traceRules(events []*topdown.Event) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range events {
		if e.Op != topdown.ExitOp {
			continue
		}
		r, ok := e.Node.(*ast.Rule)
		if !ok || r.Location == nil {
			continue
		}
		s := fmt.Sprintf("%s:%d %s", r.Location.File, r.Location.Row, r.Head.Ref())
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
