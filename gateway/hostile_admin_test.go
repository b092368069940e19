package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/decide"
	"github.com/govgate/govgate/gateway/identity"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/policy"
)

// The admin API against a browser on the gateway host: DNS rebinding (a foreign Host
// reaching the loopback listener) and CSRF (a cross-site form or fetch). Every request is
// written byte for byte over a real socket, as a browser or an attacker would send it.

// adminTarget is a running gateway with policy and audit endpoints, and raw access to its
// admin API.
type adminTarget struct {
	g    *policyGateway
	addr string // 127.0.0.1:port of the admin API
	port string
	log  *audit.Log
}

func startAdminTarget(t *testing.T) *adminTarget {
	t.Helper()
	var l *audit.Log
	g := startPolicyGateway(t, 0, taxpayer, withAuditLog(t, t.TempDir(), &l))
	// One exchange, so that /audit/records/0 holds a record (request paths with ID numbers).
	if status, _, body := do(t, "GET", g.base+"/population/v1/persons?id=110101199003077777", "", rensheju); status != 200 {
		t.Fatalf("exchange: %d %s", status, body)
	}
	addr := g.AdminAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	return &adminTarget{g: g, addr: addr, port: port, log: l}
}

// send writes one raw request (head lines joined by CRLF, then body) and returns status,
// the refusal code when the answer is a JSON refusal, and the body.
func (a *adminTarget) send(t *testing.T, head []string, body string) (int, string, string) {
	t.Helper()
	c := dialRaw(t, a.addr)
	raw := strings.Join(head, "\r\n") + "\r\n"
	if body != "" || strings.HasPrefix(head[0], "POST") {
		raw += fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	raw += "Connection: close\r\n\r\n" + body
	resp, b := c.roundTrip(t, raw)
	code := ""
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		code = adminErrorCode(t, b)
	}
	return resp.StatusCode, code, string(b)
}

// adminErrorCode reads the code of an admin refusal (which, unlike an exchange's, names
// no request id).
func adminErrorCode(t *testing.T, body []byte) string {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(body, &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("refusal is not a JSON error with code and message: %v: %s", err, body)
	}
	return b.Error.Code
}

// jsonBody is the header the admin API requires of a request body.
var jsonBody = map[string]string{"Content-Type": "application/json"}

const evalInput = `{"subject":{"dept":"110000-rensheju","system":"s","auth":"tlcp","signed":true},"request":{"method":"GET","path":"/tax/v1/x","purpose":"social-insurance-check"},"route":{"id":"tax-query","mode":"query","source_zone":"external","target_zone":"internal"},"resource":{"id":"tax.registration"},"time":"2026-11-29T10:00:00Z"}`

// adminEndpoints is every admin endpoint with the request that reaches it legitimately.
var adminEndpoints = []struct {
	method, path, body string
}{
	{"GET", "/metrics", ""},
	{"GET", "/config", ""},
	{"POST", "/reload", ""},
	{"GET", "/policy", ""},
	{"POST", "/policy/reload", ""},
	{"POST", "/policy/eval", evalInput},
	{"GET", "/audit/checkpoint", ""},
	{"GET", "/audit/records/0", ""},
	{"GET", "/audit/proof/inclusion?index=0&size=1", ""},
	{"GET", "/audit/proof/consistency?from=1&to=1", ""},
	{"GET", "/nope", ""},
}

func jsonHeader(body string) []string {
	if body == "" {
		return nil
	}
	return []string{"Content-Type: application/json"}
}

// TestAdminRefusesForeignHost: DNS rebinding. A page on evil.example whose name now
// resolves to 127.0.0.1 sends Host: evil.example:<port>; every endpoint refuses it with
// 421 before doing anything — except /healthz and /readyz, which answer any Host so that
// load balancers may probe by address.
func TestAdminRefusesForeignHost(t *testing.T) {
	a := startAdminTarget(t)
	before := a.g.stage.Engine.Status().Reloads
	for _, e := range adminEndpoints {
		head := append([]string{e.method + " " + e.path + " HTTP/1.1", "Host: evil.example:" + a.port}, jsonHeader(e.body)...)
		status, code, body := a.send(t, head, e.body)
		if status != 421 || code != "host_not_allowed" {
			t.Errorf("%s %s with a foreign Host: %d %s", e.method, e.path, status, body)
		}
		if strings.Contains(body, "110101199003077777") || strings.Contains(body, "rensheju") {
			t.Errorf("%s %s leaked data to a foreign Host: %s", e.method, e.path, body)
		}
	}
	if after := a.g.stage.Engine.Status().Reloads; after != before {
		t.Errorf("a refused POST /policy/reload reloaded the policy (%d → %d)", before, after)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, body := a.send(t, []string{"GET " + path + " HTTP/1.1", "Host: 10.0.0.7:" + a.port}, ""); status != 200 {
			t.Errorf("probe %s by another name: %d %s", path, status, body)
		}
	}
}

// TestAdminHostForms: the siblings of a foreign Host. Host names compare without case
// (RFC 9110), but nothing else is normalised: a trailing dot, another port, a missing
// port, no Host at all, an absolute-form target naming another host, or two Host headers
// are refused.
func TestAdminHostForms(t *testing.T) {
	a := startAdminTarget(t)
	p := a.port
	for _, c := range []struct {
		name   string
		head   []string
		status int
	}{
		{"loopback address", []string{"GET /policy HTTP/1.1", "Host: 127.0.0.1:" + p}, 200},
		{"localhost", []string{"GET /policy HTTP/1.1", "Host: localhost:" + p}, 200},
		{"IPv6 loopback", []string{"GET /policy HTTP/1.1", "Host: [::1]:" + p}, 200},
		{"uppercase", []string{"GET /policy HTTP/1.1", "Host: LOCALHOST:" + p}, 200},
		{"absolute form naming this host", []string{"GET http://127.0.0.1:" + p + "/policy HTTP/1.1", "Host: 127.0.0.1:" + p}, 200},
		{"trailing dot", []string{"GET /policy HTTP/1.1", "Host: localhost.:" + p}, 421},
		{"another port", []string{"GET /policy HTTP/1.1", "Host: 127.0.0.1:1" + p}, 421},
		{"no port", []string{"GET /policy HTTP/1.1", "Host: 127.0.0.1"}, 421},
		{"leading zero in port", []string{"GET /policy HTTP/1.1", "Host: 127.0.0.1:0" + p}, 421},
		{"userinfo", []string{"GET /policy HTTP/1.1", "Host: evil.example@127.0.0.1:" + p}, 421},
		// fasthttp itself refuses an HTTP/1.1 request with an empty or no Host (400).
		{"empty Host", []string{"GET /policy HTTP/1.1", "Host: "}, 400},
		{"no Host, HTTP/1.0", []string{"GET /policy HTTP/1.0"}, 421},
		{"no Host, HTTP/1.1", []string{"GET /policy HTTP/1.1"}, 400},
		{"absolute form naming another host", []string{"GET http://evil.example:" + p + "/policy HTTP/1.1", "Host: 127.0.0.1:" + p}, 421},
		{"absolute form, foreign Host", []string{"GET http://127.0.0.1:" + p + "/policy HTTP/1.1", "Host: evil.example:" + p}, 421},
		{"absolute form, another scheme", []string{"GET ftp://127.0.0.1:" + p + "/policy HTTP/1.1", "Host: 127.0.0.1:" + p}, 421},
		{"authority form", []string{"CONNECT 127.0.0.1:" + p + " HTTP/1.1", "Host: 127.0.0.1:" + p}, 421},
		{"two Host headers", []string{"GET /policy HTTP/1.1", "Host: 127.0.0.1:" + p, "Host: evil.example:" + p}, 400},
	} {
		status, code, body := a.send(t, c.head, "")
		if status != c.status || (c.status == 421 && code != "host_not_allowed") {
			t.Errorf("%s: %d %s %s, want %d", c.name, status, code, body, c.status)
		}
	}
}

// TestAdminRefusesCrossSite: CSRF. A state-changing request whose Origin is not this
// admin API, or that a browser marks cross-site or same-site in Sec-Fetch-Site, is refused
// with 403; so is a GET of an endpoint that reveals data. The legitimate client — curl or
// the CLI, which sends neither header — and a same-origin page are served.
func TestAdminRefusesCrossSite(t *testing.T) {
	a := startAdminTarget(t)
	host := "Host: 127.0.0.1:" + a.port
	self := "http://127.0.0.1:" + a.port
	eval := func(extra ...string) []string {
		return append([]string{"POST /policy/eval HTTP/1.1", host, "Content-Type: application/json"}, extra...)
	}
	record := func(extra ...string) []string {
		return append([]string{"GET /audit/records/0 HTTP/1.1", host}, extra...)
	}
	for _, c := range []struct {
		name   string
		head   []string
		body   string
		status int
	}{
		{"curl", eval(), evalInput, 200},
		{"same origin", eval("Origin: " + self), evalInput, 200},
		{"same origin, localhost", eval("Origin: http://localhost:" + a.port), evalInput, 200},
		{"fetch metadata same-origin", eval("Sec-Fetch-Site: same-origin"), evalInput, 200},
		{"fetch metadata none", record("Sec-Fetch-Site: none"), "", 200},
		{"foreign origin", eval("Origin: http://evil.example"), evalInput, 403},
		{"foreign origin on the same port", eval("Origin: http://evil.example:" + a.port), evalInput, 403},
		{"origin null", eval("Origin: null"), evalInput, 403},
		{"origin of another scheme", eval("Origin: https://127.0.0.1:" + a.port), evalInput, 403},
		{"origin with a path", eval("Origin: " + self + "/x"), evalInput, 403},
		{"two origins", eval("Origin: "+self, "Origin: http://evil.example"), evalInput, 403},
		{"cross-site", eval("Sec-Fetch-Site: cross-site"), evalInput, 403},
		{"lowercase names", eval("origin: http://evil.example"), evalInput, 403},
		{"lowercase fetch metadata", eval("sec-fetch-site: cross-site"), evalInput, 403},
		{"two fetch metadata", eval("Sec-Fetch-Site: same-origin", "Sec-Fetch-Site: cross-site"), evalInput, 403},
		{"same-site", eval("Sec-Fetch-Site: same-site"), evalInput, 403},
		{"same origin but cross-site fetch", eval("Origin: "+self, "Sec-Fetch-Site: cross-site"), evalInput, 403},
		{"reload from a foreign origin", []string{"POST /reload HTTP/1.1", host, "Origin: http://evil.example"}, "", 403},
		{"record read cross-site", record("Sec-Fetch-Site: cross-site"), "", 403},
		{"record read from a foreign origin", record("Origin: http://evil.example"), "", 403},
		{"metrics read cross-site", []string{"GET /metrics HTTP/1.1", host, "Sec-Fetch-Site: cross-site"}, "", 403},
	} {
		status, code, body := a.send(t, c.head, c.body)
		if status != c.status || (c.status == 403 && code != "cross_site_refused") {
			t.Errorf("%s: %d %s %s, want %d", c.name, status, code, body, c.status)
		}
		if c.status == 403 && strings.Contains(body, "110101199003077777") {
			t.Errorf("%s leaked the record: %s", c.name, body)
		}
	}
}

// TestAdminRefusesNonJSONBodies: a request body must be application/json. A form POST
// (text/plain, urlencoded or multipart — what a cross-site form can send without a
// preflight) is refused with 415; a POST without a body needs no Content-Type.
func TestAdminRefusesNonJSONBodies(t *testing.T) {
	a := startAdminTarget(t)
	host := "Host: 127.0.0.1:" + a.port
	for _, c := range []struct {
		name, contentType, body string
		status                  int
	}{
		{"json", "application/json", evalInput, 200},
		{"json with charset", "application/json; charset=utf-8", evalInput, 200},
		{"json uppercase", "Application/JSON", evalInput, 200},
		{"text/plain", "text/plain", evalInput, 415},
		{"text/plain, padded as a form would", "text/plain", evalInput[:len(evalInput)-1] + `,"x=":""}`, 415},
		{"urlencoded", "application/x-www-form-urlencoded", "input=" + evalInput, 415},
		{"multipart", "multipart/form-data; boundary=x", "--x\r\n\r\n" + evalInput + "\r\n--x--\r\n", 415},
		{"no content type", "", evalInput, 415},
		{"json lookalike", "application/jsonx", evalInput, 415},
		{"malformed", "application/json; =", evalInput, 415},
	} {
		head := []string{"POST /policy/eval HTTP/1.1", host}
		if c.contentType != "" {
			head = append(head, "Content-Type: "+c.contentType)
		}
		status, code, body := a.send(t, head, c.body)
		if status != c.status || (c.status == 415 && code != "content_type_refused") {
			t.Errorf("%s: %d %s %s, want %d", c.name, status, code, body, c.status)
		}
	}
	// No body: curl -X POST and the CLI send none and no Content-Type.
	if status, _, body := a.send(t, []string{"POST /policy/reload HTTP/1.1", host}, ""); status != 200 {
		t.Errorf("bodiless POST /policy/reload: %d %s", status, body)
	}
	// An empty text/plain form is still a form.
	if status, code, body := a.send(t, []string{"POST /policy/reload HTTP/1.1", host, "Content-Type: text/plain"}, ""); status != 415 || code != "content_type_refused" {
		t.Errorf("empty text/plain POST /policy/reload: %d %s", status, body)
	}
}

// TestAdminRefusalsAreAudited: a refused request is an admin action on the record like
// any other.
func TestAdminRefusalsAreAudited(t *testing.T) {
	a := startAdminTarget(t)
	before := a.log.Size()
	if status, _, _ := a.send(t, []string{"POST /reload HTTP/1.1", "Host: evil.example:" + a.port}, ""); status != 421 {
		t.Fatalf("foreign Host: %d", status)
	}
	waitFor(t, "the refusal's record", func() bool { return a.log.Size() > before })
	rec, err := a.log.Record(before)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec), "host_not_allowed") {
		t.Errorf("record of the refusal: %s", rec)
	}
}

// TestAdminHosts: admin.hosts adds names the API answers to (at its port unless they name
// one); an entry that is not a host name is a config error.
func TestAdminHosts(t *testing.T) {
	cfg := testConfig("127.0.0.1:1")
	cfg.Admin.Hosts = []string{"gw1.admin.example", "Ops.Example:8443"}
	gw := startGateway(t, cfg, Options{})
	addr := gw.AdminAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	a := &adminTarget{addr: addr, port: port}
	for host, want := range map[string]int{
		"gw1.admin.example:" + port: 200,
		"GW1.admin.example:" + port: 200,
		"ops.example:8443":          200,
		"ops.example:" + port:       421,
		"gw1.admin.example":         421,
		"localhost:" + port:         200,
		"evil.example:" + port:      421,
	} {
		if status, _, body := a.send(t, []string{"GET /config HTTP/1.1", "Host: " + host}, ""); status != want {
			t.Errorf("Host %s: %d %s, want %d", host, status, body, want)
		}
	}
	for _, bad := range []string{"", "evil.example/x", "a b", "host:port", "[::1", "user@host", "http://host"} {
		c := testConfig("127.0.0.1:1")
		c.Admin.Hosts = []string{bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "admin.hosts") {
			t.Errorf("admin.hosts %q: %v", bad, err)
		}
	}
}

// TestAdminGuardWithRoles: with admin.tlcp the same rules hold — a role certificate does
// not make a foreign Host, a cross-site Origin or a text/plain body acceptable — and the
// refusal names the caller in the audit record.
func TestAdminGuardWithRoles(t *testing.T) {
	ca, ids, trust := newTLCPServerPKI(t)
	engine, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ps := decide.NewPolicyStage(engine)
	var l *audit.Log
	var setup gatewaySetup
	withAuditLog(t, t.TempDir(), &l)("", &setup)
	cfg := testConfig(startUpstream(t, nil).addr)
	cfg.Admin.TLCP = true
	cfg.TLCP = TLCP{SignCert: "x", SignKey: "x", EncCert: "x", EncKey: "x", ClientCA: "x"}
	cfg.Listeners[0].Transport = TransportTLCP
	cfg.ApplyDefaults()
	gw := startGateway(t, cfg, Options{Stages: Stages{
		Authenticate: identity.NewPeerAuthenticator(0, 1000), Decide: ps, Release: ps, Audit: setup.auditor,
		Transports: map[Transport]ListenerProvider{TransportTLCP: &TLCPTransport{Identity: ids, Trust: trust}},
		Admin:      append(ps.AdminHandlers(), setup.admin...),
	}})
	addr := gw.AdminAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	p, err := ca.IssuePair(certs.PairRequest{System: "admin-officer", Roles: []string{"security-officer"}})
	if err != nil {
		t.Fatal(err)
	}
	officer, err := client.New(client.Config{Identity: tlcpIdentity(p), Trust: trust, ServerName: "localhost", Unsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(officer.Close)
	for _, c := range []struct {
		name   string
		header map[string]string
		body   string
		want   int
	}{
		{"own host", map[string]string{"Content-Type": "application/json"}, evalInput, 200},
		{"localhost", map[string]string{"Host": "localhost:" + port, "Content-Type": "application/json"}, evalInput, 200},
		{"foreign host", map[string]string{"Host": "evil.example:" + port, "Content-Type": "application/json"}, evalInput, 421},
		{"foreign origin", map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, evalInput, 403},
		{"http origin of this host", map[string]string{"Origin": "http://127.0.0.1:" + port, "Content-Type": "application/json"}, evalInput, 403},
		{"https origin of this host", map[string]string{"Origin": "https://127.0.0.1:" + port, "Content-Type": "application/json"}, evalInput, 200},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, evalInput, 415},
	} {
		before := l.Size()
		resp, err := officer.Do(context.Background(), client.Request{Method: "POST", URL: "https://" + addr + "/policy/eval", Header: c.header, Body: []byte(c.body)})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.Status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.Status, resp.Body, c.want)
			continue
		}
		waitFor(t, "the record of "+c.name, func() bool { return l.Size() > before })
		rec, _ := l.Record(before)
		if r, _ := audit.ParseRecord(rec); r == nil || r.Consumer.System != "admin-officer" || r.Status != c.want {
			t.Errorf("%s: record %s", c.name, rec)
		}
	}
}
