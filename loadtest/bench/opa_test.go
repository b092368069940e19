package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govgate/govgate/policy"
)

// The stock OPA server, built once for the package's tests.
var (
	opaOnce   sync.Once
	opaBinDir string
	opaBin    string
	opaErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if opaBinDir != "" {
		os.RemoveAll(opaBinDir)
	}
	os.Exit(code)
}

// stockOPA returns the opa binary, building it at the first call. Only a build that fails
// for want of modules (no network, no module cache) skips: any other failure is the
// bench's to fix.
func stockOPA(t *testing.T) string {
	t.Helper()
	opaOnce.Do(func() {
		opaBinDir, opaErr = os.MkdirTemp("", "govgate-bench-opa-")
		if opaErr == nil {
			opaBin, opaErr = buildOPA(context.Background(), opaBinDir)
		}
	})
	if opaErr != nil {
		msg := opaErr.Error()
		for _, lack := range []string{"missing go.sum entry", "cannot find module", "module lookup disabled", "dial tcp", "no required module"} {
			if strings.Contains(msg, lack) {
				t.Skipf("the stock OPA server cannot be built here for want of modules, so its decisions are not checked: %v", opaErr)
			}
		}
		t.Fatal(opaErr)
	}
	return opaBin
}

// startOPA runs the stock OPA server as the bench rows do, and returns its address.
func startOPA(t *testing.T, b *bench) string {
	t.Helper()
	b.opaBin = stockOPA(t)
	p, addr, err := b.opa()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return addr
}

// benchValues are the bench request's values, with the time as nginx's $time_iso8601
// writes it.
func benchValues() requestValues {
	return requestValues{Dept: "110000-shuiwu", Method: "GET", Path: "/enterprise/v1/companies", Purpose: "tax-registration",
		Agreement: "AGR-2025-0219", Time: time.Now().UTC().Format("2006-01-02T15:04:05+00:00")}
}

// govgateDecision is what govgate's own policy stage decides for the same request.
func govgateDecision(t *testing.T, e *policy.Engine, v requestValues) *policy.Decision {
	t.Helper()
	at, err := time.Parse(time.RFC3339, v.Time)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), &policy.Input{
		Subject:  policy.Subject{Dept: v.Dept, Auth: "tls"},
		Request:  policy.Request{Method: v.Method, Path: v.Path, Purpose: v.Purpose, Agreement: v.Agreement},
		Route:    policy.Route{ID: benchRouteID, Mode: benchMode, SourceZone: benchSourceZone, TargetZone: benchTargetZone},
		Resource: benchResource,
		Time:     at,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestStockOPAAgreesWithGovgate: the stock OPA server, loaded as rows (d) and (d2) load it
// and asked with the body nginx sends, allows the bench request and refuses its hostile
// variants exactly as govgate's policy stage does, for the same reasons.
func TestStockOPAAgreesWithGovgate(t *testing.T) {
	addr := startOPA(t, &bench{dir: t.TempDir()})
	engine, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*requestValues)
		allow bool
	}{
		{"the bench request", func(*requestValues) {}, true},
		{"an agreement the department does not hold", func(v *requestValues) { v.Agreement = "AGR-2025-9999" }, false},
		{"a purpose the agreement does not name", func(v *requestValues) { v.Purpose = "marketing" }, false},
		{"a department without an agreement", func(v *requestValues) { v.Dept = "110000-minzheng" }, false},
		{"a department nginx blanked for unsafe characters", func(v *requestValues) { v.Dept = "" }, false},
		{"a method the query mode does not allow", func(v *requestValues) { v.Method = "DELETE" }, false},
		{"an expired agreement's date", func(v *requestValues) { v.Time = "2029-01-01T00:00:00+00:00" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := benchValues()
			c.edit(&v)
			want := govgateDecision(t, engine, v)
			if want.Allow != c.allow {
				t.Fatalf("govgate's policy: allow %v, the case expects %v (reasons %v)", want.Allow, c.allow, want.Reasons)
			}
			status, body := post(t, "http://"+addr+"/", inputJSON(v))
			if wantStatus := map[bool]int{true: http.StatusOK, false: http.StatusNotFound}[c.allow]; status != wantStatus {
				t.Fatalf("OPA's default decision: status %d, want %d: %s", status, wantStatus, body)
			}
			// The reasons too: the two engines agree on why, not only on the outcome.
			status, body = post(t, "http://"+addr+"/v1/data/govgate/authz/decision", `{"input":`+inputJSON(v)+`}`)
			if status != http.StatusOK {
				t.Fatalf("OPA's data API: status %d: %s", status, body)
			}
			var got struct {
				Result struct {
					Allow   bool `json:"allow"`
					Reasons []struct {
						Code string `json:"code"`
					} `json:"reasons"`
				} `json:"result"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			var gotCodes, wantCodes []string
			for _, r := range got.Result.Reasons {
				gotCodes = append(gotCodes, r.Code)
			}
			for _, r := range want.Reasons {
				wantCodes = append(wantCodes, r.Code)
			}
			slices.Sort(gotCodes)
			slices.Sort(wantCodes)
			if got.Result.Allow != want.Allow || !slices.Equal(gotCodes, wantCodes) {
				t.Fatalf("OPA decided allow %v %v, govgate allow %v %v", got.Result.Allow, gotCodes, want.Allow, wantCodes)
			}
		})
	}
}

// TestStockOPARefusesAMalformedInput: a body that is not JSON is an error (400), which
// auth_request turns into a 500 — closed — never a 2xx.
func TestStockOPARefusesAMalformedInput(t *testing.T) {
	addr := startOPA(t, &bench{dir: t.TempDir()})
	for _, body := range []string{`{"subject":`, `not json`} {
		if status, b := post(t, "http://"+addr+"/", body); status/100 == 2 {
			t.Errorf("body %q: status %d: %s", body, status, b)
		}
	}
}

// TestInputJSONLeavesNginxVariables: the body template keeps nginx's variables as nginx
// reads them, so that nginx, not the bench, fills in each request's values.
func TestInputJSONLeavesNginxVariables(t *testing.T) {
	loc := nginxAuthLocation()
	for _, v := range []string{`"dept":"$authz_dept"`, `"agreement":"$authz_agreement"`, `"purpose":"$authz_purpose"`,
		`"method":"$request_method"`, `"path":"$authz_path"`, `"time":"$time_iso8601"`, `"id":"enterprise.registration"`} {
		if !strings.Contains(loc, v) {
			t.Errorf("auth location lacks %s:\n%s", v, loc)
		}
	}
	if strings.Contains(inputJSON(benchValues()), "'") {
		t.Error("the body holds a single quote, which ends nginx's quoted proxy_set_body")
	}
}
