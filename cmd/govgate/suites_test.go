package main

import (
	"strings"
	"testing"
)

// --suite/--suites on call and loadtest: an unknown or repeated name is a usage error that
// names the known suites, before anything is loaded or dialled.
func TestSuiteFlagsRefuseUnknownNames(t *testing.T) {
	for _, cmd := range []string{"call", "loadtest"} {
		for _, flag := range []string{"--suite", "--suites"} {
			for _, v := range []string{"ECDHE_SM4_GCM", "ECC_SM4_CBC_SM3,ECC_SM4_CBC_SM3", "TLS_AES_128_GCM_SHA256"} {
				code, _, errOut := runCmd(t, cmd, flag, v, "https://localhost:1/x")
				if code != 2 || !strings.Contains(errOut, flag) || !(strings.Contains(errOut, "ECDHE_SM4_GCM_SM3") || strings.Contains(errOut, "twice")) {
					t.Errorf("%s %s %s: exit %d: %s", cmd, flag, v, code, errOut)
				}
			}
		}
	}
	// The help names every suite.
	_, help, _ := runCmd(t, "call", "-h")
	for _, s := range []string{"ECDHE_SM4_GCM_SM3", "ECC_SM4_GCM_SM3", "ECDHE_SM4_CBC_SM3", "ECC_SM4_CBC_SM3", "--suite"} {
		if !strings.Contains(help, s) {
			t.Errorf("call -h does not mention %s", s)
		}
	}
}
