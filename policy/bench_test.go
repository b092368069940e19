package policy

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	shipped "github.com/govgate/govgate/rego"
)

// largeFiles is the shipped policy over generated data of the size: 200
// departments, 1,000 resources (half basic, half business), 10,000 agreements (50 per
// department, each for a different business resource).
func largeFiles(tb testing.TB) *Files {
	tb.Helper()
	f := &Files{Modules: map[string][]byte{}, Data: map[string][]byte{}}
	for _, p := range []string{"authz/authz.rego", "catalog/catalog.rego", "labels.yaml", "zones.yaml", "modes.yaml"} {
		b, err := fs.ReadFile(shipped.FS(), p)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasSuffix(p, ".rego") {
			f.Modules[p] = b
		} else {
			f.Data[p] = b
		}
	}
	depts := map[string]any{}
	for i := range 200 {
		depts[fmt.Sprintf("d%03d", i)] = map[string]any{"name": fmt.Sprintf("department %d", i), "clearance": "internal"}
	}
	catalog := map[string]any{}
	for i := range 1000 {
		fields := map[string]any{}
		for j := range 12 {
			fields[fmt.Sprintf("field_%02d", j)] = map[string]any{"type": "string", "label": "internal"}
		}
		category, sharing := "basic", "unconditional"
		if i%2 == 1 {
			category, sharing = "business", "conditional"
		}
		catalog[fmt.Sprintf("r%04d", i)] = map[string]any{
			"owner": fmt.Sprintf("d%03d", i%200), "category": category, "sharing": sharing, "grade": "general",
			"classification": "internal", "modes": []string{"query", "exchange"}, "fields": fields,
		}
	}
	agreements := map[string]any{}
	for d := range 200 {
		byResource := map[string]any{}
		for k := range 50 {
			r := 2*((d*50+k)%500) + 1 // a business resource
			byResource[fmt.Sprintf("r%04d", r)] = []any{map[string]any{
				"id": fmt.Sprintf("AGR-%03d-%02d", d, k), "provider": fmt.Sprintf("d%03d", r%200),
				"modes": []string{"query"}, "purposes": []string{"purpose-a", "purpose-b"},
				"fields":     []string{"field_00", "field_01", "field_02", "field_03", "field_04", "field_05"},
				"valid_from": "2026-01-01T00:00:00+08:00", "valid_to": "2028-01-01T00:00:00+08:00",
				"quota": map[string]any{"per_day": 100000}, "mask": map[string]any{"field_01": "keep-last-4"},
			}}
		}
		agreements[fmt.Sprintf("d%03d", d)] = byResource
	}
	for name, doc := range map[string]any{"departments": depts, "catalog": catalog, "agreements": agreements} {
		b, err := yaml.Marshal(map[string]any{name: doc})
		if err != nil {
			tb.Fatal(err)
		}
		f.Data[name+".yaml"] = b
	}
	return f
}

// largeInputs are n inputs over the large data: business queries under an agreement, by
// the agreement's holder, most allowed, some with a purpose the agreement does not cover.
func largeInputs(n int) []*Input {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]*Input, n)
	for i := range out {
		d, k := rng.IntN(200), rng.IntN(50)
		r := 2*((d*50+k)%500) + 1
		purpose := "purpose-a"
		if rng.IntN(10) == 0 {
			purpose = "purpose-x"
		}
		out[i] = &Input{
			Subject:  Subject{Dept: fmt.Sprintf("d%03d", d), System: "sys", CertSerial: "01", Auth: "tlcp", Signed: true},
			Request:  Request{Method: "GET", Path: "/r", Purpose: purpose},
			Route:    Route{ID: "route", Mode: "query", SourceZone: "external", TargetZone: "internal"},
			Resource: fmt.Sprintf("r%04d", r),
			Time:     at,
		}
	}
	return out
}

// largeEngine is an engine on the large data whose revision passed the reload gate's
// differential check (fastPathInputs as Options.FastPathCheckInputs: negative is the fast
// path off, every decision evaluated in full).
func largeEngine(b *testing.B, cacheSize, fastPathInputs int) *Engine {
	files := largeFiles(b)
	e := &Engine{opts: Options{CacheSize: cacheSize, FastPathCheckInputs: fastPathInputs}}
	e.keys.New = func() any { buf := make([]byte, 0, 256); return &buf }
	rev, err := Compile(context.Background(), files)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rev.CheckFastPath(context.Background(), fastPathInputs); err != nil {
		b.Fatal(err)
	}
	lr := &Live{rev: rev, engine: e}
	if cacheSize > 0 {
		lr.cache = newDecisionCache(rev, cacheSize)
	}
	e.live.Store(lr)
	return e
}

// BenchmarkDecision measures one decision over 10,000 agreements, 1,000 resources and 200
// departments, and reports its latency distribution. "uncached" is the fast path (as
// live), "uncached-full" the full evaluation it is checked against. "cached" cycles
// through 2,000 distinct inputs (the traffic of a busy minute has far fewer) with the
// clock advancing 50 µs per request, so entries expire after a second as they would live.
func BenchmarkDecision(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache int
		fast  int
	}{{"uncached", -1, 0}, {"uncached-full", -1, -1}, {"cached", DefaultCacheSize, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			e := largeEngine(b, bc.cache, bc.fast)
			inputs := largeInputs(2000)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			allowed := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				in := inputs[i%len(inputs)]
				in.Time = at.Add(time.Duration(i) * 50 * time.Microsecond)
				t0 := time.Now()
				d, err := e.Decide(ctx, in)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if d.Allow {
					allowed++
				}
			}
			b.StopTimer()
			if allowed == 0 {
				b.Fatal("nothing allowed: the benchmark measures only denials")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			if s := e.Status(); bc.cache > 0 {
				b.ReportMetric(100*float64(s.CacheHits)/float64(s.CacheHits+s.CacheMisses), "hit-%")
			}
		})
	}
}

// BenchmarkDecisionFastVsFull decides the same uncached inputs by the fast path and by
// the full evaluation in alternation, so that both meet the same machine load, and
// reports each one's median and the ratio of the medians (full / fast).
func BenchmarkDecisionFastVsFull(b *testing.B) {
	e := largeEngine(b, -1, 0)
	rev := e.Revision()
	if rev.fast == nil {
		b.Fatal("no fast path")
	}
	inputs := largeInputs(2000)
	ctx := context.Background()
	fast := make([]time.Duration, 0, b.N)
	full := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		in := inputs[i%len(inputs)]
		t0 := time.Now()
		if _, err := rev.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := rev.EvaluateFull(ctx, in); err != nil {
			b.Fatal(err)
		}
		fast, full = append(fast, t1.Sub(t0)), append(full, time.Since(t1))
	}
	b.StopTimer()
	if n := rev.FastFallbacks(); n > 0 {
		b.Fatalf("%d decisions fell back to the full evaluation", n)
	}
	slices.Sort(fast)
	slices.Sort(full)
	p50f, p50s := fast[len(fast)/2], full[len(full)/2]
	b.ReportMetric(float64(p50f.Nanoseconds())/1e3, "fast-p50-µs")
	b.ReportMetric(float64(p50s.Nanoseconds())/1e3, "full-p50-µs")
	b.ReportMetric(float64(p50s)/float64(p50f), "full/fast")
}

// BenchmarkFastPathCheck is what the differential check adds to a reload at 10,000
// agreements with the default number of inputs.
func BenchmarkFastPathCheck(b *testing.B) {
	rev, err := Compile(context.Background(), largeFiles(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := rev.CheckFastPath(context.Background(), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
}
