package fleet_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/govgate/govgate/fleet"
)

// TestStatusUnreadableIsADivergence: an admin address that answers, but not as a gateway
// does (garbage where JSON belongs, every endpoint refused to the caller's pair, or
// another HTTP server entirely), must not let the fleet "agree": a script reading the exit
// status would take a gateway nobody could read for one in step with the others.
func TestStatusUnreadableIsADivergence(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"garbage JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) }},
		{"every endpoint refused", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "forbidden: no role", http.StatusForbidden)
		}},
		{"not a gateway (404 everywhere)", http.NotFound},
		{"policy without a revision", func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/readyz":
				w.Write([]byte(`{"ready": true}`))
			case "/policy", "/certs":
				w.Write([]byte(`{}`))
			default:
				http.NotFound(w, r) // no audit log: a part the gateway does not run
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := httptest.NewServer(c.handler)
			defer hs.Close()
			r := fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, []fleet.Gateway{{Name: "odd", Admin: hs.URL}}), fleet.Options{})
			if r.OK || !has(r, fleet.KindUnreadable, "odd") {
				t.Fatalf("a gateway whose admin API could not be read: ok=%v divergences %+v; gateways %+v", r.OK, r.Divergences, r.Gateways)
			}
		})
	}

	// A gateway without an audit log or TLCP certificates (404: a part it does not run)
	// whose policy and readiness read well is in step: the rule is not "any error".
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte(`{"ready": true}`))
		case "/policy":
			w.Write([]byte(`{"revision": "abc", "loaded_at": "2026-12-02T10:00:00Z"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer hs.Close()
	r := fleet.Analyze(fleet.Collect(t.Context(), fleet.HTTPGetter{}, []fleet.Gateway{{Name: "plain", Admin: hs.URL}}), fleet.Options{})
	if !r.OK {
		t.Fatalf("a gateway without audit log or TLCP flagged: %+v", r.Divergences)
	}
}
