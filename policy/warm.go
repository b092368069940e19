package policy

import "github.com/open-policy-agent/opa/v1/ast"

// sortShared sorts, once and before any evaluation, the keys of every object and set in
// values that evaluations share (the data, the compiled policy). OPA sorts them lazily on
// first use, under a sync.Once, while copying them (for `with`) reads the keys without it:
// two evaluations touching the same object for the first time would race. The race
// detector found it with Rego tests running in parallel; doing the sorting up front
// removes it.
func sortShared(values ...any) {
	visit := func(t *ast.Term) bool {
		switch v := t.Value.(type) {
		case ast.Object:
			v.Compare(v)
		case ast.Set:
			v.Compare(v)
		}
		return false
	}
	for _, x := range values {
		ast.WalkTerms(x, visit)
	}
}
