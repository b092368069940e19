package assemble

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestFastPathConfig: policy.fast_path_check_inputs reaches the engine — the default
// checks and enables the decision fast path, -1 turns it off (the operator's escape hatch
// when a valid policy is refused with "fast path differs"), and a count below -1 is a
// config error.
func TestFastPathConfig(t *testing.T) {
	p := newTestPKI(t)
	pln := startProvider(t)
	for _, tc := range []struct {
		inputs  int
		enabled bool
	}{{0, true}, {-1, false}} {
		listen, admin := freeAddr(t), freeAddr(t)
		cfg := exampleConfig(t, p, listen, admin, pln.Addr().String())
		cfg.Policy.FastPathCheckInputs = tc.inputs
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		a, err := Build(t.Context(), cfg, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Gateway.Start(); err != nil {
			a.Close()
			t.Fatal(err)
		}
		status, body, err := fasthttp.Get(nil, "http://"+admin+"/policy")
		var got struct {
			FastPath *struct {
				Enabled bool `json:"enabled"`
				Inputs  int  `json:"inputs"`
			} `json:"fast_path"`
		}
		if err == nil && status == 200 {
			err = json.Unmarshal(body, &got)
		}
		a.Gateway.Shutdown(t.Context())
		a.Close()
		if err != nil || status != 200 {
			t.Fatalf("GET /policy: %v %d %s", err, status, body)
		}
		if got.FastPath == nil || got.FastPath.Enabled != tc.enabled || (tc.enabled && got.FastPath.Inputs == 0) {
			t.Errorf("fast_path_check_inputs %d: /policy fast_path %+v, want enabled %v after a check", tc.inputs, got.FastPath, tc.enabled)
		}
	}
	cfg := exampleConfig(t, p, freeAddr(t), freeAddr(t), pln.Addr().String())
	cfg.Policy.FastPathCheckInputs = -2
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "policy.fast_path_check_inputs") {
		t.Errorf("fast_path_check_inputs -2: %v, want a config error naming the key", err)
	}
}
