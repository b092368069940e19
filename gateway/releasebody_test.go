package gateway_test

import (
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/internal/race"
)

// taxpayers answers with a JSON array of n taxpayer records (n from the query), each with
// more fields than any agreement grants; the bodies are built once.
func taxpayers() func(ctx *fasthttp.RequestCtx) bool {
	bodies := map[string][]byte{}
	for _, n := range []int{1, 3, 60} {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"taxpayer_id":"9111010%011d","name":"北京数联科技有限公司%d","tax_status":"正常","credit_rating":"A","bank_account":"62220202%011d"}`, i, i, i)
		}
		b.WriteByte(']')
		bodies[fmt.Sprint(n)] = []byte(b.String())
	}
	return func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("application/json")
		ctx.SetBody(bodies[string(ctx.QueryArgs().Peek("n"))])
		return true
	}
}

// taxpayersGateway starts the policy gateway in front of taxpayers and returns a new
// client of it and a get of n records through a client into resp.
func taxpayersGateway(t *testing.T) (client func() *fasthttp.HostClient, get func(c *fasthttp.HostClient, n string, resp *fasthttp.Response) []byte) {
	t.Helper()
	g := startPolicyGateway(t, 0, taxpayers())
	addr := strings.TrimPrefix(g.base, "http://")
	client = func() *fasthttp.HostClient {
		return &fasthttp.HostClient{Addr: addr, Dial: func(a string) (net.Conn, error) { return net.Dial("tcp", a) }, MaxConns: 1}
	}
	get = func(c *fasthttp.HostClient, n string, resp *fasthttp.Response) []byte {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(g.base + "/tax/v1/taxpayers?n=" + n)
		for k, v := range rensheju {
			req.Header.Set(k, v)
		}
		if err := c.Do(req, resp); err != nil {
			t.Error(err)
			return nil
		}
		if resp.StatusCode() != 200 {
			t.Errorf("n=%s: status %d: %s", n, resp.StatusCode(), resp.Body())
		}
		return resp.Body()
	}
	return client, get
}

// TestReleasedBodiesShareNoBytes: the release stage writes each cut into a reused buffer
// and takes the provider's body buffer for the next one, so a body must be its own cut
// and nothing of another exchange's — a short answer after a long one has no tail of
// it, and exchanges of different sizes at once each get exactly their own (under the race
// detector in CI, a buffer shared while in use also fails as a race).
func TestReleasedBodiesShareNoBytes(t *testing.T) {
	client, get := taxpayersGateway(t)
	// The cut of each size, taken alone, and checked to be a cut: n records, none with
	// the bank account the agreement does not grant.
	c := client()
	want := map[string]string{}
	for _, n := range []string{"1", "3", "60"} {
		resp := fasthttp.AcquireResponse()
		body := string(get(c, n, resp))
		fasthttp.ReleaseResponse(resp)
		var recs []map[string]any
		if err := json.Unmarshal([]byte(body), &recs); err != nil || fmt.Sprint(len(recs)) != n || strings.Contains(body, "bank_account") {
			t.Fatalf("n=%s: %d records, %v, bank account released: %v: %s", n, len(recs), err, strings.Contains(body, "bank_account"), body)
		}
		want[n] = body
	}
	// One after another on one connection: long, short, long.
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for _, n := range []string{"60", "1", "60", "3", "1"} {
		if got := string(get(c, n, resp)); got != want[n] {
			t.Fatalf("n=%s after other sizes: %d bytes, want %d:\n%s", n, len(got), len(want[n]), got)
		}
	}
	// At once, over eight connections.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			c, resp := client(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			for i := range 50 {
				n := []string{"1", "3", "60"}[(w+i)%3]
				if got := string(get(c, n, resp)); got != want[n] {
					t.Errorf("n=%s among concurrent exchanges: %d bytes, want %d", n, len(got), len(want[n]))
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestReleasedBodyAllocatesLessThanItsCut: the cut is written into a reused buffer and
// each masked member where it lies, so an exchange allocates less than its cut's size —
// every goroutine's bytes, the client's and the provider's included — where the cut alone
// used to allocate it (and each masked member some 270 bytes more: 18.5 KB an exchange
// here before).
func TestReleasedBodyAllocatesLessThanItsCut(t *testing.T) {
	if race.Enabled || testing.Short() {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	client, get := taxpayersGateway(t)
	c, resp := client(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	cut := len(get(c, "60", resp))
	for range 50 {
		get(c, "60", resp)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const exchanges = 200
	for range exchanges {
		get(c, "60", resp)
	}
	runtime.ReadMemStats(&after)
	perExchange := (after.TotalAlloc - before.TotalAlloc) / exchanges
	t.Logf("bytes allocated per exchange with a %d-byte cut: %d", cut, perExchange)
	if perExchange >= uint64(cut) {
		t.Errorf("an exchange allocates %d bytes; its cut is %d bytes, which a reused buffer should not allocate again", perExchange, cut)
	}
}
