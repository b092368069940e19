package policy

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// officerRevision is the shipped policy with rules appended to its authz module, as a
// security officer's edit would add them, compiled and put through the reload gate's
// differential check at its default budget. gated reports whether the gate let the fast
// path on; a revision it refuses is no threat (its decisions are all evaluated in full).
func officerRevision(t *testing.T, rules string) (rev *Revision, gated bool) {
	t.Helper()
	f := shippedFiles(t)
	mods := maps.Clone(f.Modules)
	mods["authz/authz.rego"] = append(slices.Clone(mods["authz/authz.rego"]), []byte("\n"+rules+"\n")...)
	rev, err := Compile(context.Background(), &Files{Modules: mods, Data: f.Data})
	if err != nil {
		t.Fatalf("compile the officer's edit: %v", err)
	}
	rep, err := rev.CheckFastPath(context.Background(), 0)
	if err != nil {
		t.Logf("the reload gate refuses the edit: %v", err)
		return rev, false
	}
	if !rep.Enabled {
		t.Logf("no fast path for the edit: %s", rep.Reason)
	}
	return rev, rep.Enabled
}

// hostileConsumer is what a consumer can make the gateway put into a decision's input:
// any string in the headers, the path and the query, a certificate naming any
// department, at any moment. Each input is the shipped tests' base request with one thing
// changed.
func hostileConsumer() map[string]*Input {
	out := map[string]*Input{}
	add := func(name string, change func(*Input)) {
		in := taxQuery()
		in.Request.Query = map[string]string{"q": "1"}
		change(in)
		out[name] = in
	}
	queries := map[string]map[string]string{
		"no query":                {},
		"wildcard":                {"fields": "*"},
		"wildcard and more":       {"fields": "*", "q": "1", "z": ""},
		"limit above":             {"limit": "5000"},
		"limit and a word":        {"limit": "5", "q": "abc"},
		"limit as a word":         {"limit": "many"},
		"rows a word":             {"rows": "abc"},
		"rows exponent":           {"rows": "1e3"},
		"rows float":              {"rows": "500.0"},
		"rows huge":               {"rows": "1e400"},
		"rows negative zero":      {"rows": "-0"},
		"since not a time":        {"since": "yesterday"},
		"since beyond int64 ns":   {"since": "2262-04-12T00:00:00Z"},
		"since with offset":       {"since": "2026-11-29T10:00:00.000000001+08:00"},
		"page float":              {"page": "1.0"},
		"page leading zero":       {"page": "01"},
		"empty name":              {"": ""},
		"not utf-8":               {"q": "\xff\xfe"},
		"many":                    {"a": "1", "b": "2", "c": "3", "limit": "7", "page": "1", "rows": "2"},
		"unicode name":            {"ｌｉｍｉｔ": "5000"},
		"name differing in case":  {"LIMIT": "5000"},
		"value with nul":          {"q": "a\x00b"},
		"value looking like json": {"q": `{"a":1}`},
	}
	for name, q := range queries {
		add("query "+name, func(in *Input) { in.Request.Query = q })
	}
	for _, p := range []string{"", "audit", "urgent", "Social-Insurance-Check", "SOCIAL-INSURANCE-CHECK",
		"ｓｏｃｉａｌ-insurance-check", "pension", "pension-eligibility", "clock-check", "\x00", "\xff",
		strings.Repeat("社", 41), strings.Repeat("社", 40), "social-insurance-check\u200b", "x"} {
		add("purpose "+p, func(in *Input) { in.Request.Purpose = p })
	}
	for _, d := range []string{"110000-RENSHEJU", "１１００００-rensheju", "110000-rensheju\u200b", "110000-rensheju ",
		"110000", "999999-nobody", "110000-minzheng", "", "\xff"} {
		add("dept "+d, func(in *Input) { in.Subject.Dept = d })
	}
	for _, a := range []string{"agr-2026-0042", "AGR-2026-0042 ", "AGR-2024-0311", "AGR-2026-0042\x00"} {
		add("agreement "+a, func(in *Input) { in.Request.Agreement = a })
	}
	for _, p := range []string{"/admin/x", "/internal/a/b", "/ADMIN/x", "/internal/a", "", "/%2e%2e/admin"} {
		add("path "+p, func(in *Input) { in.Request.Path = p })
	}
	for _, m := range []string{"get", "POST", "GET ", ""} {
		add("method "+m, func(in *Input) { in.Request.Method = m })
	}
	validTo := time.Date(2030, 12, 31, 0, 0, 0, 0, beijing)
	for name, tm := range map[string]time.Time{
		"at valid_to":        validTo,
		"before valid_to":    validTo.Add(-time.Nanosecond),
		"after int64 ns":     time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC),
		"before int64 ns":    time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		"zero time":          {},
		"in another zone":    at.In(time.FixedZone("", -11*3600)),
		"sub-nanosecond day": validTo.Add(-time.Nanosecond).In(time.FixedZone("", 14*3600)),
	} {
		add("time "+name, func(in *Input) { in.Time = tm })
	}
	add("unsigned", func(in *Input) { in.Subject.Signed = false })
	add("basic resource", func(in *Input) { in.Resource = "legal_entity.basic"; in.Request.Agreement = "" })
	add("unknown resource", func(in *Input) { in.Resource = "tax.registration\x00" })
	return out
}

// sameOnFast fails t for every input on which the revision's fast path answers and the
// full evaluation answers otherwise or fails: the decisions a consumer would get wrong.
func sameOnFast(t *testing.T, rev *Revision, inputs map[string]*Input) {
	t.Helper()
	for _, name := range sortedKeys(inputs) {
		if _, err := rev.compareOn(context.Background(), inputs[name].value(rev)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestFastPathReviewHostileConsumerShipped: on the shipped policy, nothing a consumer can
// put into the input makes the fast path decide otherwise than the full evaluation.
func TestFastPathReviewHostileConsumerShipped(t *testing.T) {
	rev, gated := officerRevision(t, "")
	if !gated {
		t.Fatal("the shipped policy has no fast path")
	}
	sameOnFast(t, rev, hostileConsumer())
}

// TestFastPathReviewHostileDocuments: documents of any shape and type (the dry run's and
// the differential check's hostile inputs) — numbers as strings, 1 against 1.0, null
// against missing, arrays against sets, duplicate keys, times with offsets and at the
// edges — are decided alike or declined.
func TestFastPathReviewHostileDocuments(t *testing.T) {
	rev, gated := officerRevision(t, "")
	if !gated {
		t.Fatal("the shipped policy has no fast path")
	}
	base := taxQuery().value(rev).(ast.Object)
	set := func(path string, v string) ast.Value {
		return withPath(base, strings.Split(path, "."), ast.MustParseTerm(v))
	}
	docs := map[string]ast.Value{
		"signed 1":                set("subject.signed", "1"),
		"signed string":           set("subject.signed", `"true"`),
		"signed null":             set("subject.signed", "null"),
		"signed missing":          withoutPath(base, []string{"subject", "signed"}),
		"dept array":              set("subject.dept", `["110000-rensheju"]`),
		"dept set":                set("subject.dept", `{"110000-rensheju"}`),
		"dept number":             set("subject.dept", "110000"),
		"purpose set":             set("request.purpose", `{"social-insurance-check"}`),
		"purpose array":           set("request.purpose", `["social-insurance-check"]`),
		"agreement number":        set("request.agreement", "42"),
		"mode set":                set("route.mode", `{"query"}`),
		"zone null":               set("route.source_zone", "null"),
		"classification 1":        set("resource.classification", "1"),
		"classification 1.0":      set("resource.classification", "1.0"),
		"resource fields set":     set("resource.fields", `{"name"}`),
		"resource id number":      set("resource.id", "1"),
		"time offset":             set("time", `"2026-11-29T10:00:00+08:00"`),
		"time lower case":         set("time", `"2026-11-29t02:00:00z"`),
		"time leap second":        set("time", `"2026-12-31T23:59:60Z"`),
		"time fraction":           set("time", `"2026-11-29T02:00:00.999999999999Z"`),
		"time number":             set("time", "1795000000000000000"),
		"time at valid_to offset": set("time", `"2030-12-30T16:00:00Z"`),
		"time before valid_to":    set("time", `"2030-12-31T07:59:59.999999999+08:00"`),
		"time year 10000":         set("time", `"10000-01-01T00:00:00Z"`),
		"time null":               set("time", "null"),
		"time missing":            withoutPath(base, []string{"time"}),
		"huge number":             set("request.agreement", "1e400"),
		"negative zero":           set("subject.signed", "-0"),
		"query numbers":           set("request.query", `{"q": 1, "r": 1.0}`),
		"input empty":             ast.NewObject(),
	}
	dup, err := ast.ValueFromReader(strings.NewReader(`{"subject": {"dept": "999999-nobody", "dept": "110000-rensheju", "signed": true}, "request": {"method": "GET", "purpose": "social-insurance-check", "agreement": "AGR-2026-0042"}, "route": {"mode": "query", "source_zone": "external", "target_zone": "internal"}, "resource": {"id": "tax.registration"}, "time": "2026-11-29T10:00:00+08:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	docs["duplicate keys"] = dup
	for _, name := range sortedKeys(docs) {
		if _, err := rev.compareOn(context.Background(), docs[name]); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// officerEdits are legal Rego a security officer might add to the decision, each using a
// construct the interpreter must run as OPA does.
var officerEdits = map[string]string{
	"every": `
deny contains reason("QUERY_EMPTY", "a query parameter is empty") if {
	count(input.request.query) > 0
	not every_param_set
}

every_param_set if every _, v in input.request.query { v != "" }`,
	"some in, set and object comprehensions": `
param_names := {k | some k, _ in input.request.query}

param_lengths := {k: count(v) | some k, v in input.request.query}

deny contains reason("QUERY_UNKNOWN", msg) if {
	extra := param_names - {"q", "limit", "rows", "since", "page", "fields", "page_size"}
	count(extra) > 0
	msg := sprintf("unknown query parameters %s (lengths %v)", [concat(", ", sort(extra)), param_lengths])
}`,
	"else chain, default, negation": `
default purpose_class := "none"

purpose_class := "insurance" if {
	startswith(lower(input.request.purpose), "social")
} else := "pension" if {
	contains(input.request.purpose, "pension")
} else := "other" if input.request.purpose != ""

deny contains reason("PURPOSE_CLASS", sprintf("purpose class %s", [purpose_class])) if {
	purpose_class in {"other", "none"}
	not input.request.purpose in {"x"}
}`,
	"partial object, unicode": `
dept_prefix[input.subject.dept] := substring(input.subject.dept, 0, 6)

deny contains reason("DEPT_PREFIX", msg) if {
	some d, p in dept_prefix
	p != "110000"
	msg := sprintf("department %s is outside Beijing (%s, %d characters)", [d, p, count(d)])
}`,
	"conflicting complete rule": `
tier := "high" if input.request.purpose == "audit"

tier := "low" if startswith(input.request.purpose, "aud")

deny contains reason("TIER", tier) if tier == "high"`,
	"function with two outputs": `
level(p) := 1 if p == "urgent"

level(p) := 2 if endswith(p, "gent")

deny contains reason("LEVEL", "urgent") if level(input.request.purpose) == 1`,
	"built-ins that fail": `
deny contains reason("QUERY_ROWS", "too many rows") if {
	to_number(object.get(input.request.query, "rows", "0")) > 500
}

deny contains reason("QUERY_PAGE", "page 1 only") if {
	to_number(input.request.query.page) != 1
}`,
	"glob and regex": `
deny contains reason("PATH_REFUSED", msg) if {
	some pat in ["/admin/**", "/internal/*"]
	glob.match(pat, ["/"], input.request.path)
	msg := sprintf("path %s matches %s", [input.request.path, pat])
}

deny contains reason("PURPOSE_FORMAT", "the purpose is not a slug") if {
	input.request.purpose != ""
	not regex.match(` + "`^[a-z][a-z0-9-]*$`" + `, input.request.purpose)
}`,
	"time.parse_rfc3339_ns on the consumer's string": `
deny contains reason("QUERY_SINCE", "since is in the future") if {
	since := time.parse_rfc3339_ns(input.request.query.since)
	since > time.parse_rfc3339_ns(input.time)
}`,
	"with replacing a built-in": `
fixed_clock(_) := 1924876800000000000

deny contains reason("CLOCK", "no agreement would settle at the end of 2030") if {
	input.request.purpose == "clock-check"
	not agreement_settled with time.parse_rfc3339_ns as fixed_clock
}`,
	"count of unicode": `
deny contains reason("PURPOSE_LONG", "the purpose is over 40 characters") if count(input.request.purpose) > 40`,
	"walk": `
deny contains reason("QUERY_WILDCARD", msg) if {
	walk(input.request.query, [path, value])
	value == "*"
	msg := sprintf("query parameter %s asks for everything", [concat(".", path)])
}`,
	"walk without output": `
deny contains reason("QUERY_WALKED", "walk-check") if {
	input.request.purpose == "walk-check"
	walk(input.request.query)
}`,
	"comprehension over the query per name, compared": `
deny contains reason("QUERY_LIMIT", msg) if {
	some name in {"limit", "page_size"}
	given := [to_number(v) | some k, v in input.request.query; k == name]
	some n in given
	n > 1000
	msg := sprintf("%s %v is above 1000", [name, n])
}`,
	"comprehension over the query per name": `
deny contains reason("QUERY_LIMIT", msg) if {
	some name in {"limit", "page_size"}
	given := [to_number(v) | some k, v in input.request.query; k = name]
	some n in given
	n > 1000
	msg := sprintf("%s %v is above 1000", [name, n])
}`,
}

// TestFastPathReviewOfficerEdits: for each officer's edit the gate lets on, every hostile
// consumer input is decided by the fast path as by the full evaluation (or declined).
func TestFastPathReviewOfficerEdits(t *testing.T) {
	inputs := hostileConsumer()
	for _, name := range sortedKeys(officerEdits) {
		t.Run(name, func(t *testing.T) {
			rev, gated := officerRevision(t, officerEdits[name])
			if !gated {
				return
			}
			sameOnFast(t, rev, inputs)
		})
	}
}

// TestFastPathReviewConcurrent: one revision decides on many goroutines at once, each
// decision by the fast path and by the full evaluation, and they agree (run with -race:
// the interpreter's state is per decision; the plan, its strings and the data are shared
// and only read).
func TestFastPathReviewConcurrent(t *testing.T) {
	rev, gated := officerRevision(t, officerEdits["some in, set and object comprehensions"])
	if !gated {
		t.Fatal("no fast path")
	}
	inputs := hostileConsumer()
	names := sortedKeys(inputs)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range names {
				in := inputs[names[(i+g)%len(names)]]
				if _, err := rev.compareOn(context.Background(), in.value(rev)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestFastPathReviewPanicDeclines: a fault inside the interpreter (here a statement that
// reads a local never set) is not a decision: the live decision is the full evaluation's,
// and the fallback is counted.
func TestFastPathReviewPanicDeclines(t *testing.T) {
	rev, gated := officerRevision(t, "")
	if !gated {
		t.Fatal("no fast path")
	}
	f := planFunc(t, rev, "allow")
	f.Blocks = append([]*ir.Block{{Stmts: []ir.Stmt{
		&ir.EqualStmt{A: ir.Operand{Value: ir.Local(f.Return + 1000)}, B: ir.Operand{Value: ir.Bool(true)}},
	}}}, f.Blocks...)
	if _, err := rev.fast.eval(context.Background(), ast.NewTerm(taxQuery().value(rev)), rev.dataTerm); err == nil || !strings.Contains(err.Error(), "fault") {
		t.Fatalf("a faulting plan: %v", err)
	}
	d, err := rev.Evaluate(context.Background(), taxQuery())
	if err != nil || !d.Allow {
		t.Fatalf("decision after the fault: %+v %v", d, err)
	}
	if rev.FastFallbacks() != 1 {
		t.Errorf("fallbacks %d, want 1", rev.FastFallbacks())
	}
}

// TestFastPathReviewWalk (finding, high): walk is a relation — topdown hands each
// [path, value] to its callback — and the interpreter kept only the last one, so a rule
// over walk saw one node (scanned as if it were the list of nodes). The reload gate's
// inputs all carry the query {"q": "1"}, on which both paths agree, so the edit went live
// with its fast path on; a consumer sending ?fields=* was then allowed what the policy
// denies with QUERY_WILDCARD.
func TestFastPathReviewWalk(t *testing.T) {
	rev, gated := officerRevision(t, officerEdits["walk"])
	if !gated {
		t.Fatal("the reload gate refused the walk edit")
	}
	ctx := context.Background()
	for _, q := range []map[string]string{{"fields": "*"}, {"a": "1", "fields": "*"}, {"fields": "*", "z": "2"}, {"q": "1"}} {
		in := taxQuery()
		in.Request.Query = q
		full, err := rev.EvaluateFull(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		wantDeny := q["fields"] == "*"
		if full.Allow == wantDeny || strings.Contains(codesOf(full), "QUERY_WILDCARD") != wantDeny {
			t.Fatalf("query %v: the policy decides %s allow=%v", q, codesOf(full), full.Allow)
		}
		live, err := rev.Evaluate(ctx, in)
		if err != nil || live.Allow != full.Allow || !slices.Equal(live.Reasons, full.Reasons) {
			t.Errorf("query %v: live decision %+v (%v), the policy's %+v", q, live, err, full)
		}
	}
}

// TestFastPathReviewComprehensionIndex (finding, medium): topdown evaluates a
// comprehension that closes over an outer variable once for every value of it (OPA's
// comprehension index), so with strict built-in errors a built-in that fails on any
// query parameter fails the decision; the plan evaluates the comprehension for the bound
// value only and answers. The gate's inputs never carry a parameter to_number refuses.
// A revision whose decision has such a comprehension must leave it to the full
// evaluation.
func TestFastPathReviewComprehensionIndex(t *testing.T) {
	rev, _ := officerRevision(t, officerEdits["comprehension over the query per name"])
	indexed := 0
	for _, m := range rev.compiler.Modules {
		ast.WalkTerms(m, func(x *ast.Term) bool {
			if rev.compiler.ComprehensionIndex(x) != nil {
				indexed++
			}
			return false
		})
	}
	if indexed == 0 {
		t.Fatal("OPA does not index the comprehension: the test does not test what it says")
	}
	if rep := rev.FastPath(); rep == nil || rep.Enabled || !strings.Contains(rep.Reason, "comprehension") {
		t.Errorf("fast path of a decision with an indexed comprehension: %+v", rep)
	}
	ctx := context.Background()
	in := taxQuery()
	in.Request.Query = map[string]string{"limit": "5", "q": "abc"}
	if _, err := rev.EvaluateFull(ctx, in); err == nil {
		t.Fatal("the full evaluation does not fail on q=abc")
	}
	if d, err := rev.Evaluate(ctx, in); err == nil {
		t.Errorf("the live decision is %s allow=%v where the policy fails", codesOf(d), d.Allow)
	}
	in.Request.Query = map[string]string{"limit": "5000"}
	full, err1 := rev.EvaluateFull(ctx, in)
	live, err2 := rev.Evaluate(ctx, in)
	if err1 != nil || err2 != nil || codesOf(live) != codesOf(full) || !strings.Contains(codesOf(full), "QUERY_LIMIT") {
		t.Errorf("limit=5000: live %v %v, the policy %v %v", live, err2, full, err1)
	}
}

// TestFastPathGateSeesQueryShapes: the reload gate's inputs carry more than one query
// shape, so the check itself refuses a fast path that mishandles a rule over the query:
// with walk's outputs cut to the last one again (the fault fixed above), and with an
// indexed comprehension planned anyway, the edit does not go live.
func TestFastPathGateSeesQueryShapes(t *testing.T) {
	ctx := context.Background()
	rev, gated := officerRevision(t, officerEdits["walk"])
	if !gated {
		t.Fatal("the gate refuses the walk edit")
	}
	faults := 0
	var unrelate func(b *ir.Block)
	unrelate = func(b *ir.Block) {
		for _, s := range b.Stmts {
			switch s := s.(type) {
			case *boundCall:
				if s.Func == "walk" {
					s.to.relation = false
					faults++
				}
			case *ir.BlockStmt:
				for _, inner := range s.Blocks {
					unrelate(inner)
				}
			case *ir.ScanStmt:
				unrelate(s.Block)
			case *ir.NotStmt:
				unrelate(s.Block)
			}
		}
	}
	for _, f := range rev.plan.funcs {
		for _, b := range f.fn.Blocks {
			unrelate(b)
		}
	}
	if faults == 0 {
		t.Fatal("no walk call in the plan")
	}
	if _, err := rev.CheckFastPath(ctx, 0); err == nil || !strings.Contains(err.Error(), "QUERY_WILDCARD") {
		t.Errorf("the gate on a fast path that loses walk's outputs: %v", err)
	}

	// An indexed comprehension planned in spite of indexedComprehension.
	rev, _ = officerRevision(t, officerEdits["comprehension over the query per name"])
	if rev.plan != nil {
		t.Fatal("an indexed comprehension was planned")
	}
	plan, err := planModules(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	rev.plan, rev.planErr = plan, nil
	if _, err := rev.CheckFastPath(ctx, 0); err == nil || !strings.Contains(err.Error(), "to_number") {
		t.Errorf("the gate on a fast path that misses the comprehension's errors: %v", err)
	}
}

// TestFastPathReviewWithOnInput: a `with` on input (or data) is a WithStmt, which fastVM
// does not run: the revision has no fast path, says why, and decides in full.
func TestFastPathReviewWithOnInput(t *testing.T) {
	rev, gated := officerRevision(t, `
deny contains reason("WITH_CHECK", "no agreement would settle undeclared") if {
	input.request.purpose == "with-check"
	not agreement_settled with input.request.agreement as ""
}`)
	if gated || rev.plan != nil || rev.planErr == nil || !strings.Contains(rev.planErr.Error(), "WithStmt") {
		t.Fatalf("a with on input: gated=%v plan error %v", gated, rev.planErr)
	}
	in := taxQuery()
	in.Request.Purpose = "with-check"
	live, err1 := rev.Evaluate(context.Background(), in)
	full, err2 := rev.EvaluateFull(context.Background(), in)
	if err1 != nil || err2 != nil || codesOf(live) != codesOf(full) {
		t.Errorf("live %v %v, the policy %v %v", live, err1, full, err2)
	}
}
