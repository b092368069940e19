package gateway

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// configTypePaths lists the YAML path of every field of Config, "[]" for list elements.
// A field without a yaml tag is reported in untagged: its path would be an accident of
// its Go name.
func configTypePaths(t reflect.Type, prefix string, paths, untagged *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("yaml") == "" {
			*untagged = append(*untagged, joinPath(prefix, f.Name))
		}
		name, inline := yamlName(f)
		if name == "" && !inline {
			continue
		}
		p := prefix
		if !inline {
			p = joinPath(prefix, name)
			*paths = append(*paths, p)
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			p += "[]"
			*paths = append(*paths, p)
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			configTypePaths(ft, p, paths, untagged)
		}
	}
}

// A field added to Config must be classified, by a rule of its own or its section's,
// or this fails; so must a rule that names no field (a renamed field's stale rule).
func TestEveryConfigFieldHasAReloadClass(t *testing.T) {
	var paths, untagged []string
	configTypePaths(reflect.TypeOf(Config{}), "", &paths, &untagged)
	if len(untagged) > 0 {
		t.Errorf("config fields without a yaml tag: %v", untagged)
	}
	if len(paths) < 100 {
		t.Fatalf("walked only %d fields: the walk is broken", len(paths))
	}
	for _, p := range paths {
		if _, ok := reloadClass(p); !ok {
			t.Errorf("%s has no reload class: add it (or its section) to ReloadRules in config.go", p)
		}
	}
	seen := map[string]bool{}
	for _, r := range ReloadRules() {
		if !slices.Contains(paths, r.Path) {
			t.Errorf("ReloadRules names %s, which is no config field", r.Path)
		}
		if seen[r.Path] {
			t.Errorf("ReloadRules names %s twice", r.Path)
		}
		seen[r.Path] = true
		if r.Class != Reloadable && r.Class != RestartOnly || r.Why == "" {
			t.Errorf("rule %s: class %q, why %q", r.Path, r.Class, r.Why)
		}
	}
	// An unclassified field fails closed.
	if !restartOnlyAt("no_such_section.field") {
		t.Error("an unclassified field counts as reloadable")
	}
}

// The walk names fields by the paths an operator writes: nested members, list indexes,
// pointers by their value, and lists and maps of scalars as one field.
func TestRestartOnlyChangesNamesYAMLPaths(t *testing.T) {
	base := testConfig("127.0.0.1:1")
	base.Audit.Dir, base.Keys.Dir = "/var/lib/govgate/audit", "/var/lib/govgate/keys"
	base.applyDefaults()
	next := *base
	next.Routes = append([]Route(nil), base.Routes...)
	next.Routes[0].PathPrefix = "/people/v1" // reloadable: not named
	next.Pools = nil                         // reloadable, as a whole list
	next.TLS.ACME.Domains = []string{"a.example"}
	next.Audit.SegmentBytes *= 2
	off := false
	next.Policy.Watch = &off
	got := restartOnlyChanges(base, &next)
	want := []string{"tls.acme.domains", "policy.watch", "audit.segment_bytes"}
	if !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	same := *base
	on := true
	same.Policy.Watch = &on // another pointer to an equal value is no change
	if got := restartOnlyChanges(base, &same); len(got) > 0 {
		t.Errorf("an equal config changes %v", got)
	}
}

// examples/govgate.yaml says of every section whether a reload applies it, as the table
// does.
func TestExampleConfigMarksReloadClass(t *testing.T) {
	data, err := os.ReadFile("../examples/govgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	marker := regexp.MustCompile(`Reload: (reloadable|restart-only)\b`)
	for _, r := range ReloadRules() {
		if strings.ContainsAny(r.Path, ".[") {
			continue
		}
		at := slices.IndexFunc(lines, func(l string) bool {
			l = strings.TrimRight(l, " ")
			return l == r.Path+":" || strings.HasPrefix(l, r.Path+": ") || l == "# "+r.Path+":"
		})
		if at < 0 {
			t.Errorf("examples/govgate.yaml has no %s section", r.Path)
			continue
		}
		var class string
		for i := at - 1; i >= 0 && strings.HasPrefix(lines[i], "#"); i-- {
			if m := marker.FindStringSubmatch(lines[i]); m != nil {
				class = m[1]
				break
			}
		}
		if class != string(r.Class) {
			t.Errorf("examples/govgate.yaml marks %s %q above it, ReloadRules says %s", r.Path, class, r.Class)
		}
	}
}
