package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/govgate/govgate/client"
)

// TestHTTPToATLCPPort: an http:// URL to a TLCP listener is reported as such, not as an
// unparsable status line; an http:// URL to a plain listener still gets its answer, with
// a real status line in Head.
func TestHTTPToATLCPPort(t *testing.T) {
	r := startRig(t)
	c := r.client(t, nil)
	_, err := c.Do(t.Context(), client.Request{URL: "http://" + strings.TrimPrefix(r.url, "https://")})
	if !errors.Is(err, client.ErrTLSServer) || !strings.Contains(err.Error(), "use https://") || strings.Contains(err.Error(), `\x15`) {
		t.Fatalf("http:// to a TLCP port: %v", err)
	}
	resp, err := c.Do(t.Context(), client.Request{URL: r.plain + "/enterprise/v1/companies/1"})
	if err != nil || resp.Status != 401 {
		t.Fatalf("http:// to the plain listener: %v %+v", err, resp)
	}
	if !strings.HasPrefix(string(resp.Head), "HTTP/1.1 401 Unauthorized\r\n") {
		t.Errorf("head %q", resp.Head)
	}
}
