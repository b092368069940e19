package main

import (
	"os"
	"slices"
	"testing"
)

// TestServerEnvSetsGOMAXPROCSOnlyWhenAsked: -server-gomaxprocs reaches the servers'
// environment (where gateway.ReserveSyscallProc defers to it) and nothing else; without
// it a server inherits the bench's environment unchanged, so that the default rows
// measure govgate as govgate serve runs it.
func TestServerEnvSetsGOMAXPROCSOnlyWhenAsked(t *testing.T) {
	if env := (&bench{}).serverEnv(); env != nil {
		t.Fatalf("without -server-gomaxprocs the server's environment was changed: %d entries", len(env))
	}
	if env := (&bench{serverProcs: -1}).serverEnv(); env != nil {
		t.Fatal("a negative -server-gomaxprocs was passed on")
	}
	env := (&bench{serverProcs: 1}).serverEnv()
	if !slices.Contains(env, "GOMAXPROCS=1") {
		t.Fatalf("GOMAXPROCS=1 missing from the server's environment")
	}
	if len(env) != len(os.Environ())+1 {
		t.Fatalf("server environment has %d entries, want the bench's %d and GOMAXPROCS", len(env), len(os.Environ()))
	}
	if os.Getenv("GOMAXPROCS") == "1" {
		return // the test's own environment already had it: nothing more to tell apart
	}
	if slices.Contains(os.Environ(), "GOMAXPROCS=1") {
		t.Fatal("the bench's own environment (the load generator's) was changed")
	}
}
