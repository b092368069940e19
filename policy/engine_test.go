package policy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestShippedPolicyDecides(t *testing.T) {
	e := newEngine(t, Options{CacheSize: -1})
	ctx := context.Background()

	d, err := e.Decide(ctx, taxQuery())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.Agreement != "AGR-2026-0042" || d.MaxLabel != "internal" || !d.RequireSignature {
		t.Fatalf("allowed query decided %+v", d)
	}
	if want := []string{"name", "registered_on", "tax_status", "taxpayer_id"}; !slices.Equal(d.Fields, want) {
		t.Errorf("fields %v, want the intersection %v", d.Fields, want)
	}
	if d.Mask["taxpayer_id"] != "keep-last-4" || d.Quota.PerDay != 10000 || d.Quota.PerMinute != 600 {
		t.Errorf("obligations: mask %v quota %+v", d.Mask, d.Quota)
	}
	if d.Revision != e.Revision().ID || len(d.Revision) != 32 {
		t.Errorf("decision revision %q, live %q", d.Revision, e.Revision().ID)
	}

	for name, c := range map[string]struct {
		change func(*Input)
		code   string
	}{
		"expired agreement":   {func(in *Input) { in.Resource, in.Request.Agreement = "enterprise.registration", "AGR-2024-0311" }, "AGREEMENT_EXPIRED"},
		"unregistered dept":   {func(in *Input) { in.Subject.Dept = "999999-nobody" }, "DEPT_UNKNOWN"},
		"not for sharing":     {func(in *Input) { in.Resource, in.Request.Agreement = "population.case_records", "" }, "SHARING_NONE"},
		"above zone ceiling":  {func(in *Input) { in.Route.SourceZone = "internet" }, "LABEL_ABOVE_CEILING"},
		"unsigned":            {func(in *Input) { in.Subject.Signed = false }, "SIGNATURE_REQUIRED"},
		"other purpose":       {func(in *Input) { in.Request.Purpose = "marketing" }, "PURPOSE_NOT_COVERED"},
		"unknown resource":    {func(in *Input) { in.Resource = "nothing.here" }, "RESOURCE_UNKNOWN"},
		"agreement not held":  {func(in *Input) { in.Request.Agreement = "AGR-2026-0058" }, "AGREEMENT_NOT_FOUND"},
		"mode not covered":    {func(in *Input) { in.Route.Mode = "exchange" }, "AGREEMENT_MODE_NOT_COVERED"},
		"no agreement at all": {func(in *Input) { in.Subject.Dept, in.Request.Agreement = "110000-gongan", "" }, "AGREEMENT_REQUIRED"},
	} {
		in := taxQuery()
		c.change(in)
		d, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.Allow || !slices.Contains(d.ReasonCodes(), c.code) || len(d.Fields) != 0 {
			t.Errorf("%s: allow=%v reasons %s fields %v, want a deny with %s", name, d.Allow, codesOf(d), d.Fields, c.code)
		}
		for _, r := range d.Reasons {
			if r.Message == "" {
				t.Errorf("%s: reason %s without a message", name, r.Code)
			}
		}
	}
}

func TestReloadKeepsRunningRevisionOnError(t *testing.T) {
	dir := copyShipped(t)
	e := newEngine(t, Options{Dir: dir})
	ctx := context.Background()
	first := e.Revision().ID

	cases := []struct {
		name, file, old, new, want string
	}{
		{"syntax error", "authz/authz.rego", "default allow := false", "default allow := false +", "parse policy"},
		{"strict mode: unused variable", "authz/authz.rego", "reason(code, message) := {", "reason(code, message) := x if { x := 1 }\n\nreason2(code, message) := {", "compile policy"},
		{"failing Rego test", "authz/authz_test.rego", `d.require_signature == true`, `d.require_signature == false`, "Rego tests failed"},
		{"unknown label in data", "catalog.yaml", "classification: secret", "classification: very-secret", "unknown label"},
		{"misspelt data key", "agreements.yaml", `valid_to: "2028-06-30T00:00:00+08:00"`, `valid_too: "2028-06-30T00:00:00+08:00"`, "valid_too"},
		{"bad date", "agreements.yaml", `valid_to: "2028-06-30T00:00:00+08:00"`, `valid_to: "2028-06-30"`, "not RFC 3339"},
		{"unknown mask", "agreements.yaml", "keep-last-4}\n        update_frequency: daily", "scramble}\n        update_frequency: daily", "unknown mask"},
		{"nondeterministic builtin", "authz/authz.rego", "now_ns := time.parse_rfc3339_ns(input.time)", "now_ns := time.now_ns()", "time.now_ns"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.file)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		edit(t, dir, c.file, c.old, c.new)
		rev, changed, err := e.Reload(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: reload error %v, want one mentioning %q", c.name, err, c.want)
		}
		if changed || rev == nil || rev.ID != first || e.Revision().ID != first {
			t.Errorf("%s: the running revision changed", c.name)
		}
		if s := e.Status(); s.LastError == "" || s.Failures == 0 {
			t.Errorf("%s: status does not report the failure: %+v", c.name, s)
		}
		if d, err := e.Decide(ctx, taxQuery()); err != nil || !d.Allow {
			t.Errorf("%s: the running revision no longer decides: %v %v", c.name, d, err)
		}
		if err := os.WriteFile(p, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A good change goes live, and the failure is cleared.
	edit(t, dir, "agreements.yaml", "purposes: [social-insurance-check, pension-eligibility]", "purposes: [pension-eligibility]")
	rev, changed, err := e.Reload(ctx)
	if err != nil || !changed || rev.ID == first {
		t.Fatalf("good edit: %v changed=%v", err, changed)
	}
	if s := e.Status(); s.LastError != "" {
		t.Errorf("status still reports %q", s.LastError)
	}
	d, err := e.Decide(ctx, taxQuery())
	if err != nil || d.Allow || codesOf(d) != "PURPOSE_NOT_COVERED" {
		t.Errorf("after the edit: %+v %v, want PURPOSE_NOT_COVERED", d, err)
	}
	// Reloading the same files changes nothing.
	if _, changed, err := e.Reload(ctx); err != nil || changed {
		t.Errorf("reload of unchanged files: changed=%v err=%v", changed, err)
	}
}

func TestReloadRefusesPolicyWithoutTests(t *testing.T) {
	dir := copyShipped(t)
	e := newEngine(t, Options{Dir: dir})
	for _, f := range []string{"authz/authz_test.rego", "catalog/catalog_test.rego"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "no Rego tests") {
		t.Fatalf("reload without tests: %v", err)
	}
	if _, err := New(context.Background(), Options{Dir: dir, SkipTests: true}); err != nil {
		t.Fatalf("skip_tests: %v", err)
	}
}

func TestWatchReloadsOnEdit(t *testing.T) {
	dir := copyShipped(t)
	e := newEngine(t, Options{Dir: dir})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	first := e.Revision().ID
	edit(t, dir, "departments.yaml", "(Civil Affairs Bureau)", "(Civil Affairs Bureau, 民政)")
	// A reload compiles, runs the fast path's differential check and the Rego tests: under
	// the race detector on a busy machine that can take well over ten seconds.
	deadline := time.Now().Add(60 * time.Second)
	for e.Revision().ID == first {
		if time.Now().After(deadline) {
			t.Fatalf("the edit was not picked up: %+v", e.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken edit is reported and does not replace the revision.
	second := e.Revision().ID
	edit(t, dir, "authz/authz.rego", "package govgate.authz", "package govgate.authz\n\nbroken :=")
	for e.Status().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatal("the broken edit was not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e.Revision().ID != second {
		t.Error("a broken edit replaced the revision")
	}
}

// TestSwapIsAtomic reloads between two revisions while decisions run: every decision is
// the one its own revision makes, never a mixture, and never an error.
func TestSwapIsAtomic(t *testing.T) {
	dir := copyShipped(t)
	e := newEngine(t, Options{Dir: dir, SkipTests: true})
	ctx := context.Background()
	allowRev := e.Revision().ID
	const a, b = "purposes: [social-insurance-check, pension-eligibility]", "purposes: [pension-eligibility]"

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var faults []string
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := e.Decide(ctx, taxQuery())
				mu.Lock()
				switch {
				case err != nil:
					faults = append(faults, err.Error())
				case d.Allow != (d.Revision == allowRev):
					faults = append(faults, "revision "+d.Revision+" decided "+codesOf(d))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 100 {
		old, new := a, b
		if i%2 == 1 {
			old, new = b, a
		}
		edit(t, dir, "agreements.yaml", old, new)
		if _, _, err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if len(faults) > 0 {
		t.Fatalf("%d faults, first: %s", len(faults), faults[0])
	}
}

func TestEvalExplains(t *testing.T) {
	e := newEngine(t, Options{})
	raw, err := os.ReadFile("../examples/policy-input.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Eval(context.Background(), raw, true)
	if err != nil {
		t.Fatal(err)
	}
	if out.Decision.Allow || codesOf(out.Decision) != "AGREEMENT_EXPIRED" {
		t.Errorf("example input decided %+v", out.Decision)
	}
	fired := strings.Join(out.Fired, "\n")
	for _, want := range []string{"authz/authz.rego:", "deny", "fault"} {
		if !strings.Contains(fired, want) {
			t.Errorf("explanation lacks %q:\n%s", want, fired)
		}
	}
	for _, bad := range []string{`[]`, `{"subject": `, `"text"`} {
		if _, err := e.Eval(context.Background(), []byte(bad), false); err == nil {
			t.Errorf("input %s evaluated", bad)
		}
	}
}

func TestCatalogEntries(t *testing.T) {
	e := newEngine(t, Options{})
	b, err := e.CatalogEntries(context.Background(), "110000-rensheju", "internet")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"geographic.basic"`) || strings.Contains(s, `"population.basic"`) || strings.Contains(s, "case_records") {
		t.Errorf("internet catalog: %s", s)
	}
}
