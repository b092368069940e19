package main

import (
	"strings"
	"testing"
)

// TestAuditDBURLPasswordNotPrinted: a --db URL with a password that cannot be used — a
// server that is not there, a URL that does not parse, a keyword string — fails the
// command (exit 1) without the password in anything it prints.
func TestAuditDBURLPasswordNotPrinted(t *testing.T) {
	const secret = "S3cretPw-do-not-print"
	urls := []string{
		"postgres://auditor:" + secret + "@127.0.0.1:1/idx?connect_timeout=2",
		"postgres://auditor:" + secret + "@127.0.0.1:notaport/idx",
		"postgres://auditor:" + secret + "@[::1/idx",
		"postgres://auditor:" + secret + "@127.0.0.1:1/idx?sslmode=bogus",
		"host=127.0.0.1 port=1 user=auditor password=" + secret + " dbname=idx connect_timeout=2",
		"host=127.0.0.1 port=notaport user=auditor password=" + secret + " dbname=idx",
	}
	for _, url := range urls {
		for _, args := range [][]string{
			{"audit", "ship", "--db", url, "--migrate"},
			{"audit", "report", "--db", url},
		} {
			code, out, errOut := runCmd(t, args...)
			if code != 1 || strings.Contains(out+errOut, secret) || errOut == "" {
				t.Errorf("%v: exit %d (want 1), printed:\n%s%s", args[:2], code, out, errOut)
			}
		}
	}
}
