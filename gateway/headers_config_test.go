package gateway

import (
	"strings"
	"testing"
)

// TestRouteResponseHeadersValidated: a route may release more of the provider's fields,
// but never one that sets state in the consumer's client, describes one connection, or is
// the gateway's own.
func TestRouteResponseHeadersValidated(t *testing.T) {
	withList := func(list string) string {
		return strings.Replace(validYAML, "    target_zone: internal\n", "    target_zone: internal\n    response_headers: "+list+"\n", 1)
	}
	cfg, err := ParseConfig([]byte(withList("[X-Total-Count, link]")))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Routes[0].ResponseHeaders; len(got) != 2 || got[0] != "X-Total-Count" {
		t.Errorf("response_headers %q", got)
	}
	for _, bad := range []string{"Set-Cookie", "set-cookie2", "Connection", "keep-alive", "Transfer-Encoding", "TE",
		"Trailer", "Upgrade", "Proxy-Authenticate", "x-govgate-receipt", "X-Govgate-Anything", "x-classification",
		"X-Request-Id", "Date", "server", "'X Total'", "'X-Total:'", "''"} {
		_, err := ParseConfig([]byte(withList("[" + bad + "]")))
		if err == nil || !strings.Contains(err.Error(), "routes[0].response_headers[0]") {
			t.Errorf("%s: %v, want a refusal naming routes[0].response_headers[0]", bad, err)
		}
	}
}
