package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editLine replaces old by new on one line (from 1) of a file, failing if it is not there.
func editLine(t *testing.T, file string, line int, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if !strings.Contains(lines[line-1], old) {
		t.Fatalf("%s:%d is %q, without %q", file, line, lines[line-1], old)
	}
	lines[line-1] = strings.Replace(lines[line-1], old, new, 1)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyCheckReportsDataErrorsWithPlaces: an officer's three mistakes in the shipped
// data — an unknown label, a misspelt key, a copied agreement whose id was not changed —
// are all reported by one check, each at its file, line and column, by check and test.
func TestPolicyCheckReportsDataErrorsWithPlaces(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policy")
	if code, _, errOut := runCmd(t, "policy", "init", dir); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	catalog := filepath.Join(dir, "catalog.yaml")
	editLine(t, catalog, 16, "classification: internal", "classification: topsecret")
	editLine(t, catalog, 20, "fields:", "fileds:")
	editLine(t, filepath.Join(dir, "agreements.yaml"), 25, "id: AGR-2026-0107", "id: AGR-2026-0042")
	want := `govgate policy: policy data: 3 errors
agreements.yaml:25:13: data.agreements.110000-rensheju.enterprise.registration[0].id: agreement id "AGR-2026-0042" names two agreements: provider 110000-scjgj here, 110000-shuiwu there; first at agreements.yaml:12:13 (data.agreements.110000-rensheju.tax.registration[0].id)
catalog.yaml:16:21: data.catalog.population.basic.classification: unknown label "topsecret"
catalog.yaml:20:5: data.catalog.population.basic.fileds: unknown key "fileds" in a catalog resource; did you mean "fields"?
`
	for _, cmd := range []string{"check", "test"} {
		code, out, errOut := runCmd(t, "policy", cmd, dir)
		if code != 1 || out != "" || errOut != want {
			t.Errorf("policy %s: exit %d, stdout %q\nstderr %s\nwant   %s", cmd, code, out, errOut, want)
		}
	}
}
