package gateway_test

import (
	"strings"
	"testing"
	"time"
)

// The hostile-traffic suite: a running gateway with the real policy engine, a raw client
// and a rawProvider that records the exact bytes it receives and answers what each test
// scripts. Each test asserts the refusal and that nothing that should not have crossed did.

// startHostile runs the policy gateway in front of a raw provider answering with answer.
func startHostile(t testing.TB, answer func(req []byte) string, setup ...func(dir string, s *gatewaySetup)) (*policyGateway, *rawProvider) {
	t.Helper()
	rp := startRawProvider(t, answer)
	setup = append([]func(string, *gatewaySetup){func(_ string, s *gatewaySetup) { s.provider = rp.addr }}, setup...)
	return startPolicyGateway(t, 0, nil, setup...), rp
}

// TestRawProviderHarness checks the harness itself: an allowed exchange reaches the raw
// provider, which records it byte for byte, and its scripted answer is released.
func TestRawProviderHarness(t *testing.T) {
	g, rp := startHostile(t, func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju)
	if status != 200 || !strings.Contains(string(body), "tax_status") || strings.Contains(string(body), "bank_account") {
		t.Fatalf("status %d: %s", status, body)
	}
	line, _, _ := rawHead(rp.last())
	if line != "GET /tax/v1/taxpayers?id=1 HTTP/1.1" {
		t.Errorf("provider received %q", line)
	}
	if v := rawHeaderValues(rp.last(), "x-govgate-consumer-dept"); len(v) != 1 || v[0] != "110000-rensheju" {
		t.Errorf("consumer dept asserted as %q", v)
	}
}

// TestClientCloseKeptOnRefusals: a client that asked to close its connection gets it
// closed after a refusal too (the error response replaces the one the pipeline had
// marked), not held open as keep-alive.
func TestClientCloseKeptOnRefusals(t *testing.T) {
	g, _ := startHostile(t, nil)
	for name, raw := range map[string]string{
		"no route":       "GET /nope HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
		"ambiguous path": "GET /tax/v1/a;b HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
		"denied":         "DELETE /tax/v1/taxpayers HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nConnection: close\r\n\r\n",
	} {
		c := dialRaw(t, g.base)
		resp, body := c.roundTrip(t, raw)
		if resp.StatusCode < 400 {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
		}
		if !resp.Close {
			t.Errorf("%s: the refusal does not close the connection the client asked to close", name)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := c.r.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("%s: the connection stayed open (%d, %v)", name, n, err)
		}
	}
}
