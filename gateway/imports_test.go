package gateway

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/govgate/govgate"

// deps returns every package of this module that pkg imports, directly or not, test files
// excluded: what `go list -deps` lists of the module for it.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(path string)
	walk = func(path string) {
		p, err := build.Import(path, ".", 0)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		for _, imp := range p.Imports {
			if (imp == module || strings.HasPrefix(imp, module+"/")) && !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestImportsPointDown holds the layout of docs/architecture.md: the proxy core reads no
// policy engine and no audit log (the adapters in gateway/decide, gateway/record and
// gateway/identity bring those), the certificate sources know nothing of the gateway, and
// only the assembly puts the adapters together.
func TestImportsPointDown(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{module + "/gateway", []string{"/policy", "/audit", "/certs", "/gateway/", "/cmd/"}},
		{module + "/certs", []string{"/gateway", "/policy", "/audit", "/crypto/tlcp"}},
		{module + "/crypto/tlcp", []string{"/gateway", "/certs", "/policy", "/audit"}},
		{module + "/keys", []string{"/gateway", "/certs", "/crypto/tlcp", "/policy", "/audit"}},
		{module + "/gateway/decide", []string{"/audit", "/gateway/assemble", "/gateway/record", "/gateway/identity"}},
		{module + "/gateway/record", []string{"/gateway/assemble", "/gateway/decide", "/gateway/identity"}},
		{module + "/gateway/identity", []string{"/policy", "/gateway/assemble", "/gateway/decide", "/gateway/record"}},
		{module + "/gateway/assemble", []string{"/cmd/"}},
		{module + "/client", []string{"/gateway", "/policy", "/cmd/"}},
		{module + "/wire", []string{"/"}},
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg) {
			for _, f := range r.forbidden {
				if under(strings.TrimPrefix(d, module), f) {
					t.Errorf("%s imports %s (directly or through another package): the layout forbids it", r.pkg, d)
				}
			}
		}
	}
	// The walk sees what it must: an adapter does import the package it adapts.
	if d := deps(t, module+"/gateway/decide"); !slices.Contains(d, module+"/policy") || !slices.Contains(d, module+"/gateway") {
		t.Errorf("gateway/decide's imports as walked: %v; want policy and gateway among them", d)
	}
}

// under reports whether the module-relative package rel is forbidden by f: f itself and
// the packages below it, or only those below it when f ends in a slash.
func under(rel, f string) bool {
	if strings.HasSuffix(f, "/") {
		return strings.HasPrefix(rel, f)
	}
	return rel == f || strings.HasPrefix(rel, f+"/")
}
