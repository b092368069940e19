package gateway_test

import (
	"testing"
)

// TestProbeVariantsRecorded: only the three probes, by GET, answered, go unrecorded. A
// hostile or careless caller's variants of a probe path are either answered as that
// probe (and change and show nothing else) or are recorded: another method, another case,
// a trailing slash, a path that resolves to another endpoint through dot segments or
// escaped slashes. Reading the config by a probe-looking path must leave its record.
func TestProbeVariantsRecorded(t *testing.T) {
	k := startKindsTarget(t)
	host := "Host: 127.0.0.1:" + k.port
	for _, c := range []struct {
		head     string
		recorded bool
	}{
		{"GET /healthz?x=1 HTTP/1.1", false},
		{"GET //healthz HTTP/1.1", false},
		{"HEAD /healthz HTTP/1.1", true},
		{"POST /healthz HTTP/1.1", true},
		{"DELETE /metrics HTTP/1.1", true},
		{"GET /HEALTHZ HTTP/1.1", true},
		{"GET /healthz/ HTTP/1.1", true},
		{"GET /healthz/../config HTTP/1.1", true},
		{"GET /healthz/..%2fconfig HTTP/1.1", true},
		{"GET /metrics/%2e%2e/config HTTP/1.1", true},
		{"GET /readyz;/../config HTTP/1.1", true},
	} {
		before := k.log.Size()
		resp, body := dialRaw(t, k.addr).roundTrip(t, c.head+"\r\n"+host+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		status, code := resp.StatusCode, string(body)
		recs := k.records(t, before)
		if c.recorded && len(recs) != 1 {
			t.Errorf("%s (%d %s): %d records, want 1", c.head, status, code, len(recs))
		}
		if !c.recorded && len(recs) != 0 {
			t.Errorf("%s (%d %s): %d records, want none (an answered probe)", c.head, status, code, len(recs))
		}
		for _, r := range recs {
			if r.Kind != "admin" || r.Status != status {
				t.Errorf("%s: record %+v, want an admin record with status %d", c.head, r, status)
			}
		}
	}
}
