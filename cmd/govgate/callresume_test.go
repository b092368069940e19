package main

import (
	"strings"
	"testing"
)

// TestCallContinueAtUsage: --continue-at takes only '-' and needs --output; both are
// refused as usage errors before anything is sent (the URL is unreachable).
func TestCallContinueAtUsage(t *testing.T) {
	for _, args := range [][]string{
		{"call", "--continue-at", "-", "https://127.0.0.1:1/x"},
		{"call", "--continue-at", "100", "--output", "/tmp/never", "https://127.0.0.1:1/x"},
	} {
		code, _, errOut := runCmd(t, args...)
		if code != 2 || !strings.Contains(errOut, "--continue-at") {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
}
