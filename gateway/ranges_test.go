package gateway

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRangeHelpersAllocateNothing: removing Range on every filtered request and looking for
// a part on every response stay off the allocator.
func TestRangeHelpersAllocateNothing(t *testing.T) {
	var req fasthttp.Request
	req.Header.Set("X-Govgate-Purpose", "social-insurance-check")
	req.Header.Set("Accept", "application/json")
	var resp fasthttp.Response
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Set("ETag", `"v1"`)
	for _, withRange := range []bool{false, true} {
		n := testing.AllocsPerRun(200, func() {
			if withRange {
				req.Header.Set("Range", "bytes=0-10")
				req.Header.Set("If-Range", `"v1"`)
			}
			if !DropRangeRequest(&req.Header) {
				t.Fatal("Range left")
			}
			if partial, _ := partialResponse(&resp.Header); partial {
				t.Fatal("a whole response read as partial")
			}
		})
		if n != 0 {
			t.Errorf("with Range %v: %.1f allocations per request", withRange, n)
		}
	}
}

// TestDropRangeNamesAsReceived: a header that keeps names as received (where fasthttp's Del
// matches exact bytes) loses every spelling too.
func TestDropRangeNamesAsReceived(t *testing.T) {
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	raw := "GET /x HTTP/1.1\r\nHost: gw\r\nrange: bytes=0-1\r\nRANGE: bytes=2-3\r\nrAnGe: bytes=4-5\r\nif-range: \"x\"\r\nAccept: */*\r\n\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	if !DropRangeRequest(&req.Header) {
		t.Fatal("reported Range left")
	}
	for k, v := range req.Header.All() {
		if oneOfFold(k, unfilteredReadFields[:]) {
			t.Errorf("left %s: %s", k, v)
		}
	}
	if string(req.Header.Peek("Accept")) != "*/*" {
		t.Errorf("Accept lost: %q", req.Header.Header())
	}
}
