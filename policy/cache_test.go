package policy

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestCacheKeyIsWhatThePolicyReads(t *testing.T) {
	e := newEngine(t, Options{})
	ctx := context.Background()
	reads := e.Revision().Reads()
	for _, unread := range []string{"input.request.path", "input.subject.system", "input.subject.cert_serial"} {
		if slices.Contains(reads, unread) {
			t.Errorf("the shipped policy is said to read %s: %v", unread, reads)
		}
	}
	// The method is read: each sharing mode allows a set of methods.
	for _, read := range []string{"input.subject.dept", "input.request.method", "input.request.purpose", "input.resource", "input.time"} {
		if !slices.Contains(reads, read) {
			t.Errorf("the shipped policy is said not to read %s: %v", read, reads)
		}
	}

	first, err := e.Decide(ctx, taxQuery())
	if err != nil {
		t.Fatal(err)
	}
	// What the policy does not read does not split the cache…
	other := taxQuery()
	other.Request.Path, other.Subject.System, other.Subject.CertSerial = "/tax/v1/other", "other-system", "ffff"
	if d, _ := e.Decide(ctx, other); d != first {
		t.Error("an input differing only in unread leaves missed the cache")
	}
	// …and what it reads does.
	method := taxQuery()
	method.Request.Method = "DELETE"
	if d, _ := e.Decide(ctx, method); d == first || d.Allow {
		t.Errorf("a DELETE was served the cached decision of a GET: %+v", d)
	}
	purpose := taxQuery()
	purpose.Request.Purpose = "marketing"
	if d, _ := e.Decide(ctx, purpose); d == first || d.Allow {
		t.Errorf("a different purpose was served the cached decision: %+v", d)
	}
	if s := e.Status(); s.CacheHits != 1 || s.CacheMisses != 3 {
		t.Errorf("hits %d misses %d, want 1 and 3", s.CacheHits, s.CacheMisses)
	}
}

// TestCacheKeyFollowsAnEditedPolicy: once the policy reads the path, the path is in the key.
func TestCacheKeyFollowsAnEditedPolicy(t *testing.T) {
	dir := copyShipped(t)
	edit(t, dir, "authz/authz.rego", "# ---------------------------------------------------------------------------------------\n# Who may ask, and for what.",
		"# ---------------------------------------------------------------------------------------\n# Who may ask, and for what.\n\ndeny contains reason(\"PATH_BLOCKED\", \"this path is closed\") if startswith(input.request.path, \"/tax/v1/closed\")")
	e := newEngine(t, Options{Dir: dir, SkipTests: true})
	if !slices.Contains(e.Revision().Reads(), "input.request.path") {
		t.Fatalf("reads %v lack the path", e.Revision().Reads())
	}
	ctx := context.Background()
	open, _ := e.Decide(ctx, taxQuery())
	closed := taxQuery()
	closed.Request.Path = "/tax/v1/closed/x"
	d, err := e.Decide(ctx, closed)
	if err != nil || d.Allow || codesOf(d) != "PATH_BLOCKED" || !open.Allow {
		t.Fatalf("open %v, closed %+v %v", open.Allow, d, err)
	}
}

func TestCacheExpiresAtAgreementBoundary(t *testing.T) {
	e := newEngine(t, Options{})
	ctx := context.Background()
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, beijing) // AGR-2027-0003 takes effect
	in := &Input{
		Subject:  Subject{Dept: "110000-minzheng", Signed: true},
		Request:  Request{Method: "GET", Purpose: "minimum-living-allowance-review", Agreement: "AGR-2027-0003"},
		Route:    Route{Mode: "query", SourceZone: "external", TargetZone: "internal"},
		Resource: "social_insurance.contributions",
		Time:     start.Add(-300 * time.Millisecond),
	}
	before, err := e.Decide(ctx, in)
	if err != nil || before.Allow || codesOf(before) != "AGREEMENT_NOT_YET_VALID" {
		t.Fatalf("before the agreement: %+v %v", before, err)
	}
	in.Time = start.Add(-time.Millisecond)
	if d, _ := e.Decide(ctx, in); d != before {
		t.Error("a millisecond before the boundary the cached decision was not used")
	}
	in.Time = start
	after, err := e.Decide(ctx, in)
	if err != nil || !after.Allow {
		t.Fatalf("at the agreement's start, 300 ms after a cached deny: %+v %v", after, err)
	}
}

func TestCacheEntriesLiveAtMostOneSecond(t *testing.T) {
	e := newEngine(t, Options{})
	ctx := context.Background()
	in := taxQuery()
	first, _ := e.Decide(ctx, in)
	in.Time = at.Add(999 * time.Millisecond)
	if d, _ := e.Decide(ctx, in); d != first {
		t.Error("missed within the second")
	}
	in.Time = at.Add(time.Second)
	if d, _ := e.Decide(ctx, in); d == first {
		t.Error("hit after a second")
	}
}

func TestCacheIsBoundedAndDroppedOnReload(t *testing.T) {
	dir := copyShipped(t)
	e := newEngine(t, Options{Dir: dir, CacheSize: 10})
	ctx := context.Background()
	for i := range 100 {
		in := taxQuery()
		in.Request.Purpose = fmt.Sprintf("purpose-%d", i)
		if _, err := e.Decide(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.Status().CacheEntries; n > 10 || n == 0 {
		t.Errorf("cache holds %d entries, bound 10", n)
	}
	old, _ := e.Decide(ctx, taxQuery())
	edit(t, dir, "departments.yaml", "(Civil Affairs Bureau)", "(Civil Affairs)")
	if _, changed, err := e.Reload(ctx); err != nil || !changed {
		t.Fatal(err)
	}
	if n := e.Status().CacheEntries; n != 0 {
		t.Errorf("after a reload the cache holds %d entries", n)
	}
	d, _ := e.Decide(ctx, taxQuery())
	if d == old || d.Revision == old.Revision {
		t.Error("a decision of the old revision was served after the reload")
	}
}

func TestKeyEncodingIsUnambiguous(t *testing.T) {
	all := leafSet(1<<numLeaves - 1)
	a := &Input{Subject: Subject{Dept: "ab", System: "c"}}
	b := &Input{Subject: Subject{Dept: "a", System: "bc"}}
	if string(a.appendKey(nil, all)) == string(b.appendKey(nil, all)) {
		t.Error("two inputs share a key")
	}
	q1 := &Input{Request: Request{Query: map[string]string{"a": "b", "c": ""}}}
	q2 := &Input{Request: Request{Query: map[string]string{"a": "bc"}}}
	if string(q1.appendKey(nil, all)) == string(q2.appendKey(nil, all)) {
		t.Error("two queries share a key")
	}
	s1 := &Input{Subject: Subject{Signed: true}}
	s2 := &Input{}
	if string(s1.appendKey(nil, all)) == string(s2.appendKey(nil, all)) {
		t.Error("signed and unsigned share a key")
	}
}
