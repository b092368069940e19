package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	shipped "github.com/govgate/govgate/rego"
)

// DefaultCacheSize is the decision cache's default bound, in decisions.
const DefaultCacheSize = 10000

// Options configure an Engine.
type Options struct {
	// Dir is the policy directory; empty means the shipped, embedded policy.
	Dir string
	// FS, when set, is read instead of Dir.
	FS fs.FS
	// Files, when set, is called instead of reading Dir or FS: a source that has already
	// loaded and checked its files (a verified policy bundle) hands them over whole.
	Files func() (*Files, error)
	// SourceName names the Files source for logs and the admin API.
	SourceName string
	// SkipTests lets a revision go live without running its Rego tests. Off by default: a
	// revision whose own tests fail is not the policy its officers meant.
	SkipTests bool
	// CacheSize bounds the decision cache; 0 means DefaultCacheSize, negative disables it.
	CacheSize int
	// FastPathCheckInputs is how many generated inputs a new revision's decision fast path
	// must decide exactly as the full evaluation does before the revision goes live; 0
	// means DefaultFastPathCheckInputs, negative turns the fast path off (every decision
	// is then evaluated in full).
	FastPathCheckInputs int
	Logger              *slog.Logger
}

// Engine holds the live revision and swaps in new ones. Every method is safe for
// concurrent use; a decision is made entirely on the revision current when it started.
type Engine struct {
	opts Options
	log  *slog.Logger

	live     atomic.Pointer[Live]
	reloadMu sync.Mutex // one reload at a time
	keys     sync.Pool  // *[]byte cache keys

	reloads, failures    atomic.Uint64
	cacheHits, cacheMiss atomic.Uint64
	fastDiffers          atomic.Uint64 // revisions refused because their fast path differed

	// tamper, set only by this package's tests, changes a revision's plan before its
	// differential check, to show that the gate refuses a fast path that lies.
	tamper  func(*Revision)
	lastErr atomic.Pointer[reloadFailure]
}

// Live is the revision in force at one moment, with its decision cache. A caller that
// needs several things from one revision (the gateway reads Revision.ReadsQuery before
// deciding) takes a Live once and uses it throughout.
type Live struct {
	rev    *Revision
	cache  *decisionCache // nil when disabled
	tests  *TestReport
	engine *Engine
}

// Revision is the live revision.
func (l *Live) Revision() *Revision { return l.rev }

type reloadFailure struct {
	at  time.Time
	err string
}

// New loads, compiles and tests the first revision. A gateway does not start on a policy
// that does not load: there would be nothing to decide with.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	e := &Engine{opts: opts, log: opts.Logger}
	e.keys.New = func() any { b := make([]byte, 0, 256); return &b }
	if _, _, err := e.Reload(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Source says where the policy comes from, for logs and the admin API.
func (e *Engine) Source() string {
	switch {
	case e.opts.Files != nil:
		return e.opts.SourceName
	case e.opts.FS != nil:
		return "(supplied file system)"
	case e.opts.Dir == "":
		return "(embedded default policy)"
	default:
		return e.opts.Dir
	}
}

func (e *Engine) fsys() fs.FS {
	switch {
	case e.opts.FS != nil:
		return e.opts.FS
	case e.opts.Dir == "":
		return shipped.FS()
	default:
		return os.DirFS(e.opts.Dir)
	}
}

// Reload reads the source again and, if it changed, compiles it, runs its tests and makes
// it live. On any error the running revision stays, the error is returned and kept for
// Status. changed is false when the files are the same as the live revision's; a failure
// kept from an earlier reload is then cleared, since the files no longer hold what failed.
func (e *Engine) Reload(ctx context.Context) (rev *Revision, changed bool, err error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	rev, tests, err := e.build(ctx)
	if err != nil {
		e.failures.Add(1)
		e.lastErr.Store(&reloadFailure{at: time.Now(), err: err.Error()})
		if cur := e.live.Load(); cur != nil {
			e.log.Error("policy reload failed; the running revision stays", "source", e.Source(), "revision", cur.rev.ID, "error", err)
			return cur.rev, false, err
		}
		return nil, false, err
	}
	if cur := e.live.Load(); cur != nil && cur.rev.ID == rev.ID {
		// The files are the live revision's again (a broken edit was reverted): the
		// failure no longer describes them, and an alert on it must stop firing.
		if f := e.lastErr.Swap(nil); f != nil {
			e.log.Info("policy files equal the live revision again; the earlier reload failure is cleared", "source", e.Source(), "revision", rev.ID, "failed_at", f.at)
		}
		return cur.rev, false, nil
	}
	lr := &Live{rev: rev, tests: tests, engine: e}
	if e.opts.CacheSize > 0 {
		lr.cache = newDecisionCache(rev, e.opts.CacheSize)
	}
	e.live.Store(lr)
	e.reloads.Add(1)
	e.lastErr.Store(nil)
	e.log.Info("policy revision live", "source", e.Source(), "revision", rev.ID, "tests", testSummary(tests), "reads", rev.Reads())
	return rev, true, nil
}

func testSummary(t *TestReport) string {
	if t == nil {
		return "skipped"
	}
	return t.Summary()
}

func (e *Engine) build(ctx context.Context) (*Revision, *TestReport, error) {
	files, err := e.loadFiles()
	if err != nil {
		return nil, nil, fmt.Errorf("policy %s: %w", e.Source(), err)
	}
	if cur := e.live.Load(); cur != nil && cur.rev.ID == files.ID() {
		return cur.rev, cur.tests, nil
	}
	rev, err := Compile(ctx, files)
	if err != nil {
		return nil, nil, fmt.Errorf("policy %s: %w", e.Source(), err)
	}
	if e.tamper != nil {
		e.tamper(rev)
	}
	if err := e.checkFastPath(ctx, rev); err != nil {
		return nil, nil, err
	}
	if e.opts.SkipTests {
		return rev, nil, nil
	}
	tests, err := RunTests(ctx, files, false)
	if err != nil {
		return nil, nil, fmt.Errorf("policy %s: %w", e.Source(), err)
	}
	if !tests.OK() {
		if tests.Passed+tests.Failed == 0 {
			return nil, nil, fmt.Errorf("policy %s: no Rego tests found; a revision goes live only when its tests pass", e.Source())
		}
		return nil, nil, fmt.Errorf("policy %s: Rego tests failed (%s): %v", e.Source(), tests.Summary(), tests.Failures)
	}
	return rev, tests, nil
}

// checkFastPath is the reload gate's differential check: a revision whose fast path
// decides any generated input otherwise than its full evaluation does not go live.
func (e *Engine) checkFastPath(ctx context.Context, rev *Revision) error {
	rep, err := rev.CheckFastPath(ctx, e.opts.FastPathCheckInputs)
	if err != nil {
		if errors.Is(err, ErrFastPathDiffers) {
			e.fastDiffers.Add(1)
		}
		return fmt.Errorf("policy %s: %w", e.Source(), err)
	}
	if rep.Enabled {
		e.log.Info("decision fast path checked", "revision", rev.ID, "inputs", rep.Inputs, "declined", rep.Declined, "took", rep.Duration)
	} else {
		e.log.Warn("decision fast path off; every decision is evaluated in full", "revision", rev.ID, "reason", rep.Reason)
	}
	return nil
}

// Revision returns the live revision.
func (e *Engine) Revision() *Revision { return e.live.Load().rev }

// Current returns the live revision and its cache.
func (e *Engine) Current() *Live { return e.live.Load() }

// Decide decides in on the live revision; see Live.Decide.
func (e *Engine) Decide(ctx context.Context, in *Input) (*Decision, error) {
	return e.Current().Decide(ctx, in)
}

// Decide returns the decision for in on this revision, from the cache when the same
// input leaves were decided less than a second ago and no agreement boundary has passed.
func (l *Live) Decide(ctx context.Context, in *Input) (*Decision, error) {
	if l.cache == nil {
		return l.rev.Evaluate(ctx, in)
	}
	e := l.engine
	bp := e.keys.Get().(*[]byte)
	defer e.keys.Put(bp)
	key := in.appendKey((*bp)[:0], l.rev.reads)
	*bp = key
	if d := l.cache.get(key, in.Time); d != nil {
		e.cacheHits.Add(1)
		return d, nil
	}
	e.cacheMiss.Add(1)
	d, err := l.rev.Evaluate(ctx, in)
	if err != nil {
		return nil, err
	}
	l.cache.put(key, d, in.Time, l.rev.expiry(in))
	return d, nil
}

// Explained is a dry-run decision with the rules that fired.
type Explained struct {
	Decision *Decision `json:"decision"`
	Fired    []string  `json:"fired,omitempty"`
}

// Eval evaluates a raw input document (DESIGN.md's input, as JSON) on the live revision,
// bypassing the cache. With explain, it also lists the rules that fired.
func (e *Engine) Eval(ctx context.Context, input []byte, explain bool) (*Explained, error) {
	return EvalOn(ctx, e.Revision(), input, explain)
}

// EvalOn is Eval on a given revision.
func EvalOn(ctx context.Context, rev *Revision, input []byte, explain bool) (*Explained, error) {
	v, err := ast.ValueFromReader(bytes.NewReader(input))
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("input: want a JSON object, got %s", describeValue(v))
	}
	if err := checkEvalInput(obj); err != nil {
		return nil, err
	}
	var resource string
	if r := obj.Get(ast.InternedTerm("resource")); r != nil {
		if ro, ok := r.Value.(ast.Object); ok {
			if id, ok := ro.Get(ast.InternedTerm("id")).Value.(ast.String); ok {
				resource = string(id)
			}
		}
	}
	var opts []rego.EvalOption
	var tracer *topdown.BufferTracer
	if explain {
		tracer = topdown.NewBufferTracer()
		opts = append(opts, rego.EvalQueryTracer(tracer))
	}
	d, err := rev.eval(ctx, obj, resource, opts...)
	if err != nil {
		return nil, err
	}
	out := &Explained{Decision: d}
	if tracer != nil {
		out.Fired = traceRules(*tracer)
	}
	return out, nil
}

// UnregisteredError is a catalog asked for by a department the revision's data does not
// register (or by a caller naming none): a refusal, not an empty list, so that a
// department the security officer forgot to register is told so rather than shown a
// catalog that looks as if nothing were shared with it.
type UnregisteredError struct {
	Dept     string
	Revision string
}

func (e *UnregisteredError) Error() string {
	if e.Dept == "" {
		return "the request carries no department identity: call over a tlcp (or tls) listener with a certificate whose SAN URI is urn:govgate:dept:<code>"
	}
	return fmt.Sprintf("department %q is not registered in policy revision %s; ask your security officer to register it", e.Dept, e.Revision)
}

// CatalogEntries evaluates data.govgate.catalog.entries for a department in a zone and
// returns it as JSON; an unregistered department gets an *UnregisteredError.
func (e *Engine) CatalogEntries(ctx context.Context, dept, zone string) ([]byte, error) {
	rev := e.Revision()
	if rev.catalog == nil {
		return nil, fmt.Errorf("policy revision %s defines no %s", rev.ID, CatalogQuery)
	}
	if _, ok := rev.data.Departments[dept]; !ok {
		return nil, &UnregisteredError{Dept: dept, Revision: rev.ID}
	}
	input := ast.NewObject(
		ast.Item(ast.InternedTerm("subject"), ast.ObjectTerm(ast.Item(ast.InternedTerm("dept"), ast.StringTerm(dept)))),
		ast.Item(ast.InternedTerm("zone"), ast.StringTerm(zone)),
	)
	rs, err := rev.catalog.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluate %s (revision %s): %w", CatalogQuery, rev.ID, err)
	}
	var entries any = []any{}
	if len(rs) == 1 && len(rs[0].Expressions) == 1 {
		entries = rs[0].Expressions[0].Value
	}
	return json.Marshal(map[string]any{"revision": rev.ID, "resources": entries})
}

// Status is what the admin API reports about the policy.
type Status struct {
	Source        string      `json:"source"`
	Revision      string      `json:"revision"`
	LoadedAt      time.Time   `json:"loaded_at"`
	Tests         *TestReport `json:"tests,omitempty"`
	Reads         []string    `json:"input_read"`
	Reloads       uint64      `json:"reloads"`
	Failures      uint64      `json:"reload_failures"`
	LastError     string      `json:"last_error,omitempty"`
	LastErrorAt   *time.Time  `json:"last_error_at,omitempty"`
	CacheEntries  int         `json:"cache_entries"`
	CacheHits     uint64      `json:"cache_hits"`
	CacheMisses   uint64      `json:"cache_misses"`
	CacheDisabled bool        `json:"cache_disabled,omitempty"`
	// FastPath is the live revision's differential check; FastPathFallbacks counts its
	// decisions the fast path declined (taken by the full evaluation); FastPathDiffers
	// counts revisions refused because their fast path decided otherwise than the policy.
	FastPath          *FastPathReport `json:"fast_path,omitempty"`
	FastPathFallbacks uint64          `json:"fast_path_fallbacks"`
	FastPathDiffers   uint64          `json:"fast_path_differs"`
}

// Status reports the live revision, the last reload failure (if the latest reload
// failed) and the cache's counters.
func (e *Engine) Status() Status {
	lr := e.live.Load()
	s := Status{
		Source:   e.Source(),
		Revision: lr.rev.ID,
		LoadedAt: lr.rev.LoadedAt,
		Tests:    lr.tests,
		Reads:    lr.rev.Reads(),
		Reloads:  e.reloads.Load(),
		Failures: e.failures.Load(),

		FastPath:          lr.rev.FastPath(),
		FastPathFallbacks: lr.rev.FastFallbacks(),
		FastPathDiffers:   e.fastDiffers.Load(),
	}
	if f := e.lastErr.Load(); f != nil {
		s.LastError, s.LastErrorAt = f.err, &f.at
	}
	if lr.cache == nil {
		s.CacheDisabled = true
	} else {
		s.CacheEntries = lr.cache.len()
		s.CacheHits, s.CacheMisses = e.cacheHits.Load(), e.cacheMiss.Load()
	}
	return s
}
