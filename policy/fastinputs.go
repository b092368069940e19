package policy

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// fastCheckInputs generates n inputs for the differential check from the revision's own
// data, where the policy's decisions turn: every agreement (until n runs out) with its
// own consumer and resource, named or not, for each purpose it covers and one it does
// not, in each mode it covers and one it does not, at and either side of its valid_from
// and valid_to, signed and not; every department and every resource; and the hostile
// cases: unregistered and empty departments, uncatalogued resources, unknown zones and
// modes, methods no mode allows, request fields of the wrong JSON type, fields missing,
// fields the contract does not have, a time that is not RFC 3339. An eighth of the
// budget goes to the hostile cases.
func fastCheckInputs(rev *Revision, n int) []ast.Value {
	g := newInputGen(rev)
	var out []ast.Value
	add := func(in *Input) { out = append(out, in.value(rev)) }
	typed := n - n/8
	for _, c := range g.agreementCases(typed / 2) {
		add(c)
	}
	for len(out) < typed {
		add(g.anyInput())
	}
	for len(out) < n {
		out = append(out, g.hostile())
	}
	return out
}

type inputGen struct {
	rev       *Revision
	rng       *rand.Rand
	now       time.Time // the day the revision loaded: live decisions are about now
	depts     []string
	resources []string
	zones     []string
	modes     []string
	pairs     [][2]string // consumer, resource of each agreement list
}

func newInputGen(rev *Revision) *inputGen {
	d := rev.data
	g := &inputGen{rev: rev, rng: rand.New(rand.NewPCG(seedOf(rev.ID))), now: rev.LoadedAt.UTC().Truncate(24 * time.Hour)}
	g.depts = append(sortedKeys(d.Departments), "", "999999-unregistered")
	g.resources = append(sortedKeys(d.Catalog), "", "no.such.resource")
	g.zones = append(sortedKeys(d.Zones), "", "dmz")
	g.modes = append(sortedKeys(d.Modes), "", "bogus")
	for _, c := range sortedKeys(d.Agreements) {
		for _, r := range sortedKeys(d.Agreements[c]) {
			g.pairs = append(g.pairs, [2]string{c, r})
		}
	}
	g.rng.Shuffle(len(g.pairs), func(i, j int) { g.pairs[i], g.pairs[j] = g.pairs[j], g.pairs[i] })
	return g
}

func (g *inputGen) pick(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[g.rng.IntN(len(xs))]
}

// agreementCases makes up to n inputs about agreements, going round the agreement lists
// (shuffled) so that every one is met before any is met twice.
func (g *inputGen) agreementCases(n int) []*Input {
	var out []*Input
	for round := 0; len(out) < n && len(g.pairs) > 0 && round < n; round++ {
		for _, p := range g.pairs {
			if len(out) >= n {
				break
			}
			as := g.rev.data.Agreements[p[0]][p[1]]
			if len(as) == 0 {
				continue
			}
			out = append(out, g.agreementCase(p[0], p[1], as[g.rng.IntN(len(as))]))
		}
	}
	return out
}

// agreementCase is a request the agreement covers, as often as not changed in one or
// two respects the decision turns on.
func (g *inputGen) agreementCase(consumer, resource string, a Agreement) *Input {
	in := g.base(consumer, resource)
	in.Subject.Signed = true
	in.Route.SourceZone, in.Route.TargetZone = g.covering(), g.covering()
	in.Request.Agreement = g.pick([]string{a.ID, ""})
	in.Request.Purpose = g.pick(a.Purposes)
	in.Route.Mode = g.pick(a.Modes)
	in.Request.Method = g.pick(g.rev.data.Modes[in.Route.Mode].Methods)
	from, err1 := time.Parse(time.RFC3339, a.ValidFrom)
	to, err2 := time.Parse(time.RFC3339, a.ValidTo)
	if err1 == nil && err2 == nil {
		in.Time = from.Add(to.Sub(from) / 2)
	}
	for range g.rng.IntN(3) {
		g.perturb(in, a)
	}
	return in
}

// covering is a zone whose ceiling is the highest there is, or any zone.
func (g *inputGen) covering() string {
	best, rank := "", -1
	for _, z := range sortedKeys(g.rev.data.Zones) {
		if r, ok := g.rev.labelRank[g.rev.data.Zones[z].Ceiling]; ok && r > rank {
			best, rank = z, r
		}
	}
	if best == "" || g.rng.IntN(4) == 0 {
		return g.pick(g.zones)
	}
	return best
}

// perturb changes one thing the decision turns on.
func (g *inputGen) perturb(in *Input, a Agreement) {
	switch g.rng.IntN(9) {
	case 0:
		in.Request.Agreement = g.pick([]string{a.ID + "-X", "AGR-NONE", ""})
	case 1:
		in.Request.Purpose = g.pick([]string{"", "purpose-not-covered"})
	case 2:
		in.Route.Mode = g.pick(g.modes)
	case 3:
		in.Request.Method = g.method(in.Route.Mode)
	case 4, 5:
		in.Time = g.around(a)
	case 6:
		in.Subject.Signed = false
	case 7:
		in.Route.SourceZone = g.pick(g.zones)
	default:
		in.Subject.Dept = g.pick(g.depts)
	}
}

// around picks a moment at or either side of one of the agreement's boundaries, or
// inside its term.
func (g *inputGen) around(a Agreement) time.Time {
	from, err1 := time.Parse(time.RFC3339, a.ValidFrom)
	to, err2 := time.Parse(time.RFC3339, a.ValidTo)
	if err1 != nil || err2 != nil {
		return g.now
	}
	moments := []time.Time{
		from.Add(-time.Nanosecond), from, from.Add(time.Second),
		from.Add(to.Sub(from) / 2),
		to.Add(-time.Nanosecond), to, to.Add(time.Hour),
	}
	return moments[g.rng.IntN(len(moments))]
}

func (g *inputGen) method(mode string) string {
	ms := append(slices.Clone(g.rev.data.Modes[mode].Methods), "DELETE", "PATCH", "get", "")
	return g.pick(ms)
}

// genQueries and genPaths are what consumers put in the query string and the path: the
// query is the one input whose keys the consumer chooses, so a policy that reads it must
// meet more than one shape (no parameter, several, an empty name, words where numbers
// are expected, a wildcard) before its fast path decides anything.
var (
	genQueries = []map[string]string{
		{"q": "1"}, {}, {"fields": "*"}, {"limit": "5", "q": "abc"}, {"": ""},
		{"page": "1.0", "rows": "1e3", "since": "2026-01-01T00:00:00Z", "z": "\xff"},
	}
	genPaths = []string{"/p", "/", "/admin/x", "/p/../q", "/%E7%A4%BE/*"}
)

// base is a plausible request by consumer for resource, signed, across known zones.
func (g *inputGen) base(consumer, resource string) *Input {
	return &Input{
		Subject:  Subject{Dept: consumer, System: "sys", CertSerial: "01", Auth: "tlcp", Signed: g.rng.IntN(4) != 0},
		Request:  Request{Method: "GET", Path: genPaths[g.rng.IntN(len(genPaths))], Purpose: "", Query: genQueries[g.rng.IntN(len(genQueries))]},
		Route:    Route{ID: "route", Mode: "query", SourceZone: g.pick(g.zones), TargetZone: g.pick(g.zones)},
		Resource: resource,
		Time:     g.now,
	}
}

// anyInput is any department asking for any resource, in a mode the resource is offered
// in, as often as not one it holds no agreement for; now and then at any time in five
// years, in any mode, with any method.
func (g *inputGen) anyInput() *Input {
	res := g.pick(g.resources)
	in := g.base(g.pick(g.depts), res)
	in.Subject.Signed = g.rng.IntN(8) != 0
	in.Route.SourceZone, in.Route.TargetZone = g.covering(), g.covering()
	in.Route.Mode = g.pick(g.rev.data.Catalog[res].Modes)
	in.Request.Method = g.pick(g.rev.data.Modes[in.Route.Mode].Methods)
	in.Request.Purpose = g.pick([]string{"", "purpose-a", "social-insurance-check"})
	in.Request.Agreement = g.pick([]string{"", "", "AGR-2026-0042"})
	if g.rng.IntN(4) == 0 {
		in.Route.Mode = g.pick(g.modes)
		in.Request.Method = g.method(in.Route.Mode)
		in.Time = g.now.Add(time.Duration(g.rng.Int64N(int64(5 * 365 * 24 * time.Hour)))).Add(-2 * 365 * 24 * time.Hour)
	}
	return in
}

// hostileValues are what a hand-written dry-run input might hold where the contract
// wants a string or a boolean.
var hostileValues = []*ast.Term{
	ast.IntNumberTerm(7), ast.NullTerm(), ast.BooleanTerm(true), ast.BooleanTerm(false),
	ast.ArrayTerm(ast.StringTerm("GET")), ast.ObjectTerm(), ast.StringTerm("2026-13-45T99:00:00Z"),
	ast.StringTerm(""), ast.StringTerm("d000"), ast.SetTerm(ast.StringTerm("x")),
}

var hostilePaths = [][]string{
	{"subject", "dept"}, {"subject", "signed"}, {"request", "method"}, {"request", "purpose"},
	{"request", "agreement"}, {"route", "mode"}, {"route", "source_zone"}, {"route", "target_zone"},
	{"resource", "id"}, {"resource"}, {"time"}, {"subject"}, {"request"}, {"route"},
}

// hostile is a typed input with one or two fields replaced by a value of the wrong type,
// removed, or joined by a field the contract does not have.
func (g *inputGen) hostile() ast.Value {
	var in *Input
	if len(g.pairs) > 0 && g.rng.IntN(2) == 0 {
		p := g.pairs[g.rng.IntN(len(g.pairs))]
		as := g.rev.data.Agreements[p[0]][p[1]]
		in = g.agreementCase(p[0], p[1], as[g.rng.IntN(len(as))])
	} else {
		in = g.anyInput()
	}
	v := in.value(g.rev).(ast.Object)
	for range 1 + g.rng.IntN(2) {
		path := hostilePaths[g.rng.IntN(len(hostilePaths))]
		switch g.rng.IntN(4) {
		case 0:
			v = withoutPath(v, path)
		case 1:
			v = withPath(v, append(slices.Clone(path[:len(path)-1]), "unexpected"), ast.StringTerm("x"))
		default:
			v = withPath(v, path, hostileValues[g.rng.IntN(len(hostileValues))])
		}
	}
	return v
}

// withPath is obj with the value at path set to t, the objects on the way copied so that
// shared terms (the revision's resource terms) are never changed.
func withPath(obj ast.Object, path []string, t *ast.Term) ast.Object {
	out := obj.Copy()
	k := ast.StringTerm(path[0])
	if len(path) == 1 {
		out.Insert(k, t)
		return out
	}
	inner := ast.NewObject()
	if cur := obj.Get(k); cur != nil {
		if o, ok := cur.Value.(ast.Object); ok {
			inner = o
		}
	}
	out.Insert(k, ast.NewTerm(withPath(inner, path[1:], t)))
	return out
}

func withoutPath(obj ast.Object, path []string) ast.Object {
	out := ast.NewObject()
	obj.Foreach(func(k, v *ast.Term) {
		if k.Value.Compare(ast.String(path[0])) != 0 {
			out.Insert(k, v)
			return
		}
		if len(path) > 1 {
			if inner, ok := v.Value.(ast.Object); ok {
				out.Insert(k, ast.NewTerm(withoutPath(inner, path[1:])))
			}
		}
	})
	return out
}
