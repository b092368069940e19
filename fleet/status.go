package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/keys"
	"github.com/govgate/govgate/policy/bundle"
)

// Gateway is one member of the fleet: a name and its admin API's base URL.
type Gateway struct {
	Name  string `json:"name" yaml:"name"`
	Admin string `json:"admin" yaml:"admin"` // e.g. http://127.0.0.1:9090 or https://gw1:9443 (TLCP)
}

// GatewayStatus is what one gateway's admin API said. A part the gateway does not run (no
// audit log) or does not let the caller see (a role it lacks) is absent, with the reason
// in Errors.
type GatewayStatus struct {
	Gateway
	Reachable bool              `json:"reachable"`
	Errors    map[string]string `json:"errors,omitempty"` // endpoint → why it gave nothing

	Policy *PolicyStatus     `json:"policy,omitempty"`
	Certs  []crypto.CertInfo `json:"certificates,omitempty"`
	Audit  *AuditStatus      `json:"audit,omitempty"`
	Ready  *ReadyStatus      `json:"ready,omitempty"`
	Keys   *keys.Listing     `json:"keys,omitempty"` // GET /keys
	// SharedState is the Redis shared state as /readyz reports it: SharedUp, SharedDegraded
	// (a fallback runs weaker than the config), SharedDown (refusing), or "" when the
	// gateway keeps replay claims and quotas in memory only (or /readyz was not read).
	SharedState string `json:"shared_state,omitempty"`
	// Shared is the shared: section of GET /config (operator role; no secret in it: the
	// credentials are names of environment variables); nil when /config was not read.
	Shared *gateway.Shared `json:"shared,omitempty"`
}

// PolicyStatus is GET /policy's part the fleet compares.
type PolicyStatus struct {
	Revision  string         `json:"revision"`
	LoadedAt  time.Time      `json:"loaded_at"`
	Source    string         `json:"source"`
	LastError string         `json:"last_error,omitempty"`
	Bundle    *bundle.Status `json:"bundle,omitempty"`
}

// AuditStatus is the audit log's size and latest signed checkpoint.
type AuditStatus struct {
	LogSize        *uint64 `json:"log_size,omitempty"` // govgate_audit_log_size, from /metrics
	Origin         string  `json:"origin"`
	CheckpointSize uint64  `json:"checkpoint_size"`
	Root           string  `json:"root"`     // base64, as in the note
	KeyName        string  `json:"key_name"` // the checkpoint signer's key name
	KeyID          string  `json:"key_id"`   // its 4-byte key hash, hex: the signing key's version
	// CheckpointAt is when the latest checkpoint was signed, or, before the first, when the
	// log was opened (govgate_audit_checkpoint_timestamp_seconds, from /metrics); nil when
	// not reported.
	CheckpointAt *time.Time `json:"checkpoint_at,omitempty"`
	// Missing: the gateway runs an audit log that has signed no checkpoint yet.
	Missing bool `json:"missing,omitempty"`
}

// ReadyStatus is GET /readyz: readiness, the stages' states and the warnings (a shared
// state store that cannot be reached reports there).
type ReadyStatus struct {
	Ready    bool              `json:"ready"`
	Stages   map[string]string `json:"stages,omitempty"`
	Warnings map[string]string `json:"warnings,omitempty"`
	// Parts is each part's readiness ("ok" or why not); the shared state's is "shared-state".
	Parts map[string]string `json:"parts,omitempty"`
}

// Shared-state health as GatewayStatus.SharedState reports it.
const (
	SharedUp       = "up"
	SharedDegraded = "degraded"
	SharedDown     = "down"
)

// sharedPart is the /readyz part and warning name of the Redis shared state
// (gateway/assemble); degradedPrefix starts its warning while a fallback runs.
const (
	sharedPart     = "shared-state"
	degradedPrefix = "DEGRADED:"
)

// sharedState reads the shared state's health from /readyz: down when its part is not
// ok, degraded when it warns, up otherwise; "" when the gateway has no such part.
func sharedState(r *ReadyStatus) string {
	part, ok := r.Parts[sharedPart]
	switch {
	case !ok:
		return ""
	case part != "ok":
		return SharedDown
	case strings.HasPrefix(r.Warnings[sharedPart], degradedPrefix):
		return SharedDegraded
	}
	return SharedUp
}

// Collect asks every gateway at once and returns their statuses in the order given.
func Collect(ctx context.Context, g Getter, gateways []Gateway) []GatewayStatus {
	out := make([]GatewayStatus, len(gateways))
	var wg sync.WaitGroup
	for i, gw := range gateways {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = collectOne(ctx, g, gw)
		}()
	}
	wg.Wait()
	return out
}

func collectOne(ctx context.Context, g Getter, gw Gateway) GatewayStatus {
	st := GatewayStatus{Gateway: gw, Errors: map[string]string{}}
	base := strings.TrimSuffix(gw.Admin, "/")
	get := func(path string) ([]byte, bool) {
		status, body, err := g.Get(ctx, base+path)
		if err != nil {
			st.Errors[path] = err.Error()
			return nil, false
		}
		st.Reachable = true
		if status != 200 && !(path == "/readyz" && status == 503) {
			st.Errors[path] = fmt.Sprintf("HTTP %d: %s", status, firstLine(body))
			if status == 404 {
				st.Errors[path] = notRunPrefix + firstLine(body)
			}
			return nil, false
		}
		return body, true
	}
	if body, ok := get("/policy"); ok {
		var p PolicyStatus
		if err := json.Unmarshal(body, &p); err != nil {
			st.Errors["/policy"] = err.Error()
		} else {
			st.Policy = &p
		}
	}
	if body, ok := get("/certs"); ok {
		var c struct {
			Certificates []crypto.CertInfo `json:"certificates"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			st.Errors["/certs"] = err.Error()
		} else {
			st.Certs = c.Certificates
		}
	}
	if body, ok := get("/audit/checkpoint"); ok {
		a, err := parseNote(body)
		if err != nil {
			st.Errors["/audit/checkpoint"] = err.Error()
		} else {
			st.Audit = a
		}
	} else if strings.Contains(st.Errors["/audit/checkpoint"], noCheckpoint) {
		// An audit log that has signed nothing yet: behind, not absent.
		delete(st.Errors, "/audit/checkpoint")
		st.Audit = &AuditStatus{Missing: true}
	}
	if a := st.Audit; a != nil {
		if m, ok := get("/metrics"); ok {
			if v, ok := metricValue(m, "govgate_audit_log_size"); ok {
				n := uint64(v)
				a.LogSize = &n
			}
			if v, ok := metricValue(m, "govgate_audit_checkpoint_timestamp_seconds"); ok && v > 0 {
				at := time.Unix(0, int64(v*1e9)).UTC()
				a.CheckpointAt = &at
			}
		}
	}
	if body, ok := get("/readyz"); ok {
		var r ReadyStatus
		if err := json.Unmarshal(body, &r); err != nil {
			st.Errors["/readyz"] = err.Error()
		} else {
			st.Ready = &r
			st.SharedState = sharedState(&r)
		}
	}
	if body, ok := get("/config"); ok {
		var c struct {
			Shared gateway.Shared `yaml:"shared"`
		}
		if err := yaml.Unmarshal(body, &c); err != nil {
			st.Errors["/config"] = err.Error()
		} else {
			st.Shared = &c.Shared
		}
	}
	if body, ok := get("/keys"); ok {
		var k keys.Listing
		if err := json.Unmarshal(body, &k); err != nil {
			st.Errors["/keys"] = err.Error()
		} else {
			st.Keys = &k
		}
	}
	if len(st.Errors) == 0 {
		st.Errors = nil
	}
	return st
}

// notRunPrefix starts the error of an endpoint that answered 404: a part the gateway does
// not run (no audit log, no TLCP listener), which Analyze tells from one it could not read.
const notRunPrefix = "HTTP 404: "

// noCheckpoint is the error code of /audit/checkpoint before the first checkpoint.
const noCheckpoint = `"no_checkpoint"`

// requiredEndpoints are what every gateway of a fleet serves: without them there is
// nothing to compare, whatever the reason.
var requiredEndpoints = []string{"/policy", "/readyz"}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// parseNote reads a checkpoint note: origin, size, root, a blank line, then signature
// lines "— name base64(keyhash[4] || signature)". The signature is not verified here
// (govgate audit verify does, with keys kept apart); the fleet view compares.
func parseNote(note []byte) (*AuditStatus, error) {
	text, sigs, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		return nil, fmt.Errorf("checkpoint note: no signature block")
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint note: want origin, size and root")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("checkpoint note: size %q", lines[1])
	}
	a := &AuditStatus{Origin: lines[0], CheckpointSize: size, Root: lines[2]}
	first, _, _ := strings.Cut(sigs, "\n")
	if rest, ok := strings.CutPrefix(first, "— "); ok {
		name, b64, _ := strings.Cut(rest, " ")
		a.KeyName = name
		if raw, err := base64.StdEncoding.DecodeString(b64); err == nil && len(raw) >= 4 {
			a.KeyID = hex.EncodeToString(raw[:4])
		}
	}
	return a, nil
}

// metricValue reads an unlabelled sample from Prometheus text exposition.
func metricValue(text []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
