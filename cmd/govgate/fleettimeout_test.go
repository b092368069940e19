package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestFleetStatusHonoursTimeout: --timeout is "the time limit for each admin request"; a
// plain-HTTP admin API slower than net/http's client default of the fleet package (10 s)
// but within --timeout is read, not called unreachable. (The test waits 10.5 s.)
func TestFleetStatusHonoursTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 10.5 s")
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte(`{"ready": true}`))
		case "/policy":
			time.Sleep(10500 * time.Millisecond) // a loaded gateway far away
			w.Write([]byte(`{"revision": "abc", "loaded_at": "2026-12-02T10:00:00Z"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer hs.Close()
	if code, out, errOut := runCmd(t, "fleet", "status", "--gateway", "slow="+hs.URL, "--timeout", "15s"); code != exitOK {
		t.Fatalf("fleet status --timeout 15s on a gateway answering in 10.5 s: exit %d\n%s%s", code, out, errOut)
	}
}
