package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shipped "github.com/govgate/govgate/rego"
)

// copyShipped writes the shipped policy into a fresh directory, as a security officer's
// working copy would be, and returns it.
func copyShipped(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := shipped.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// edit rewrites one file of a policy directory, replacing old with new exactly once.
func edit(t testing.TB, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), old) != 1 {
		t.Fatalf("%s: %q occurs %d times", file, old, strings.Count(string(b), old))
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// at is 2026-11-29 10:00 Beijing time, inside every shipped agreement but the expired and
// the future one.
var at = time.Date(2026, 11, 29, 10, 0, 0, 0, beijing)

// taxQuery is the shipped tests' base input: a signed query by the social insurance
// bureau for the tax registration under AGR-2026-0042.
func taxQuery() *Input {
	return &Input{
		Subject:  Subject{Dept: "110000-rensheju", System: "pension-review", CertSerial: "1a2b", Auth: "tlcp", Signed: true},
		Request:  Request{Method: "GET", Path: "/tax/v1/taxpayers", Purpose: "social-insurance-check", Agreement: "AGR-2026-0042"},
		Route:    Route{ID: "tax-query", Mode: "query", SourceZone: "external", TargetZone: "internal"},
		Resource: "tax.registration",
		Time:     at,
	}
}

func codesOf(d *Decision) string { return strings.Join(d.ReasonCodes(), ",") }
