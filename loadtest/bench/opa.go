package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/govgate/govgate/rego"
	"github.com/govgate/govgate/wire"
)

// opaModule is the main package of the stock OPA server, from the OPA module go.mod
// already requires for the policy engine (declared as a tool there, so that its command's
// own dependencies are in go.sum): rows (d) and (d2) run the OPA a department without
// govgate would download, at the version govgate embeds.
const opaModule = "github.com/open-policy-agent/opa"

// opaEntrypoint is the one rule a department adds beside govgate's policy to put it
// behind nginx's auth_request, which reads only the status of its subrequest: OPA's
// default decision API (POST /, the input as the body) answers 200 when the decision is
// defined and 404 when it is not, so the rule is defined only when govgate's policy
// allows. It is Rego loaded by the stock server, not a process between nginx and OPA.
const opaEntrypoint = `package nginx

allow if data.govgate.authz.allow
`

// opaDefaultDecision is opaEntrypoint's rule, as OPA's default_decision setting names it.
const opaDefaultDecision = "/nginx/allow"

// opaBinEnv names an opa binary to use instead of building one, as GOVGATE_VAULT_BIN does
// for the Vault tests: for a bench binary run outside the repository.
const opaBinEnv = "GOVGATE_OPA_BIN"

// buildOPA builds the stock OPA server into dir and returns its path, or returns
// $GOVGATE_OPA_BIN if set. The build needs the repository's go.mod (go run ./loadtest/bench
// runs there) and is cached by the Go build cache: the first one compiles OPA's command,
// later ones only link.
func buildOPA(ctx context.Context, dir string) (string, error) {
	if bin := os.Getenv(opaBinEnv); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "opa")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, opaModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (run from the repository, or set %s): %w: %s", opaModule, opaBinEnv, err, strings.TrimSpace(stderr.String()))
	}
	return bin, nil
}

// opaPolicy writes govgate's shipped policy and data (rego/, as `govgate init` gives a
// department) and the entry point into dir, and returns the paths `opa run` loads.
func opaPolicy(dir string) ([]string, error) {
	policyDir := filepath.Join(dir, "rego")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		return nil, fmt.Errorf("opa policy dir: %w", err)
	}
	if err := rego.WriteTo(policyDir); err != nil {
		return nil, fmt.Errorf("write shipped policy to %s: %w", policyDir, err)
	}
	entry := filepath.Join(dir, "nginx-entrypoint.rego")
	if err := os.WriteFile(entry, []byte(opaEntrypoint), 0o644); err != nil {
		return nil, fmt.Errorf("write opa entry point: %w", err)
	}
	return []string{policyDir, entry}, nil
}

// opaArgs is the command line of the stock OPA server on addr, loading paths.
func opaArgs(bin, addr string, paths []string) []string {
	return append([]string{bin, "run", "--server", "--addr", addr, "--skip-version-check", "--log-level", "error",
		"--set", "default_decision=" + opaDefaultDecision}, paths...)
}

// opa starts the stock OPA server with govgate's policy, once per measurement like the
// other servers, and returns it with its address.
func (b *bench) opa() (*proc, string, error) {
	if b.opaBin == "" {
		bin, err := buildOPA(context.Background(), b.dir)
		if err != nil {
			return nil, "", err
		}
		b.opaBin = bin
	}
	if b.opaPaths == nil {
		paths, err := opaPolicy(b.dir)
		if err != nil {
			return nil, "", err
		}
		b.opaPaths = paths
	}
	addr := freeAddr()
	p, err := b.run(opaArgs(b.opaBin, addr, b.opaPaths), addr)
	if err != nil {
		return nil, "", fmt.Errorf("opa run --server: %w", err)
	}
	p.opa = true
	return p, addr, nil
}

// opaOf is the stock OPA server among procs, if any.
func opaOf(procs []*proc) []*proc {
	var out []*proc
	for _, p := range procs {
		if p.opa {
			out = append(out, p)
		}
	}
	return out
}

// authzInput is the input document of one request as govgate's policy stage builds it
// (policy.Input): the route's facts fixed, as the nginx location that stands for the route
// fixes them, and the request's own values given by v.
type authzInput struct {
	Subject struct {
		Dept       string `json:"dept"`
		System     string `json:"system"`
		CertSerial string `json:"cert_serial"`
		Auth       string `json:"auth"`
		Signed     bool   `json:"signed"`
	} `json:"subject"`
	Request struct {
		Method    string            `json:"method"`
		Path      string            `json:"path"`
		Query     map[string]string `json:"query"`
		Purpose   string            `json:"purpose"`
		Agreement string            `json:"agreement"`
	} `json:"request"`
	Route struct {
		ID         string `json:"id"`
		Mode       string `json:"mode"`
		SourceZone string `json:"source_zone"`
		TargetZone string `json:"target_zone"`
	} `json:"route"`
	Resource struct {
		ID string `json:"id"`
	} `json:"resource"`
	Time string `json:"time"`
}

// requestValues are the per-request values of an authzInput: literal values in tests,
// nginx variables in the nginx configuration.
type requestValues struct {
	Dept, Method, Path, Purpose, Agreement, Time string
}

// The bench's one route, as serveGovgate configures it.
const (
	benchRouteID    = "enterprise-query"
	benchMode       = "query"
	benchResource   = "enterprise.registration"
	benchSourceZone = "external"
	benchTargetZone = "internal"
)

// inputJSON is the input document for v. With nginx variables for values it is the body
// nginx sends: JSON escaping leaves `$name` alone, and nginxAuthMaps lets through only
// values that cannot leave a JSON string.
func inputJSON(v requestValues) string {
	var in authzInput
	in.Subject.Dept, in.Subject.Auth = v.Dept, "tls"
	in.Request.Method, in.Request.Path, in.Request.Query = v.Method, v.Path, map[string]string{}
	in.Request.Purpose, in.Request.Agreement = v.Purpose, v.Agreement
	in.Route.ID, in.Route.Mode, in.Route.SourceZone, in.Route.TargetZone = benchRouteID, benchMode, benchSourceZone, benchTargetZone
	in.Resource.ID = benchResource
	in.Time = v.Time
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(in); err != nil {
		panic(err) // a struct of strings always encodes
	}
	return strings.TrimSpace(buf.String())
}

// nginxHeaderVar is nginx's variable for a request header.
func nginxHeaderVar(header string) string {
	return "$http_" + strings.ReplaceAll(strings.ToLower(header), "-", "_")
}

// benchDeptHeader names the consumer in the rows without TLCP (a bench fixture).
const benchDeptHeader = "X-Bench-Dept"

// nginxAuthMaps keeps each request value that goes into the JSON body only if it is made
// of characters that need no escaping, and makes it empty otherwise: nginx has no JSON
// escaping for proxy_set_body, and a hostile consumer's `"` in a header would otherwise
// write its own input fields (a later duplicate key wins). An empty department, purpose
// or agreement is refused by the policy.
func nginxAuthMaps() string {
	token := `"~^[A-Za-z0-9._-]{1,128}$"`
	m := func(from, to, pattern string) string {
		return fmt.Sprintf("  map %s %s { %s %s; default \"\"; }\n", from, to, pattern, from)
	}
	return m(nginxHeaderVar(benchDeptHeader), "$authz_dept", token) +
		m(nginxHeaderVar(wire.HeaderPurpose), "$authz_purpose", token) +
		m(nginxHeaderVar(wire.HeaderAgreement), "$authz_agreement", token) +
		// In the subrequest $uri is /_authz; $request_uri is the client's, query and all.
		fmt.Sprintf("  map $request_uri $authz_path { %s $authz_p; default \"\"; }\n", `"~^(?<authz_p>/[A-Za-z0-9/._~-]{0,2047})(?:[?]|$)"`)
}

// nginxAuthLocation is the auth_request subrequest: POST the input to OPA's default
// decision, over keep-alive connections; OPA's 404 (undefined: denied) becomes the 403
// auth_request reads as a refusal, and any other failure stays an error (500): closed.
// The method and the time are nginx's own, safe in a JSON string as they are: nginx
// refuses a method outside [A-Z_-], and $time_iso8601 is digits and punctuation.
func nginxAuthLocation() string {
	body := inputJSON(requestValues{Dept: "$authz_dept", Method: "$request_method", Path: "$authz_path",
		Purpose: "$authz_purpose", Agreement: "$authz_agreement", Time: "$time_iso8601"})
	return fmt.Sprintf(`location = /_authz {
      internal;
      proxy_pass http://opa/;
      proxy_method POST;
      proxy_pass_request_headers off;
      proxy_pass_request_body off;
      proxy_set_header Content-Type application/json;
      proxy_set_body '%s';
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_intercept_errors on;
      error_page 404 = @authz_refused;
    }
    location @authz_refused {
      internal;
      return 403;
    }`, body)
}
