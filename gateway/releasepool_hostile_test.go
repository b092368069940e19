package gateway_test

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// hostileTaxRegistry answers by the query: n records (kind=ok), or n good records and
// then one whose tax_status is an object the catalog does not admit (kind=bad), so the
// cut is refused after most of it was written; enc=gzip|br|zstd compresses the body;
// status=204 answers without one. Every record carries a bank account, never released,
// and a bad one's object carries a marker that must never reach any consumer.
func hostileTaxRegistry(t testing.TB) func(ctx *fasthttp.RequestCtx) bool {
	return func(ctx *fasthttp.RequestCtx) bool {
		q := ctx.QueryArgs()
		if string(q.Peek("status")) == "204" {
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return true
		}
		n := q.GetUintOrZero("n")
		var b bytes.Buffer
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"taxpayer_id":"9111010%011d","name":"企业%d <&>","tax_status":"正常","bank_account":"BANK-%011d"}`, i, i, i)
		}
		if string(q.Peek("kind")) == "bad" {
			fmt.Fprintf(&b, `,{"taxpayer_id":"LEAK-ID","name":"LEAK-NAME","tax_status":{"LEAK":"%s"}}`, strings.Repeat("L", 300))
		}
		b.WriteByte(']')
		body := b.Bytes()
		if enc := string(q.Peek("enc")); enc != "" {
			body = compressAs(t, enc, body)
			ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, enc)
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
		return true
	}
}

var requestID = regexp.MustCompile(`"request_id":"[^"]*"`)

func compressAs(t testing.TB, coding string, data []byte) []byte {
	var b bytes.Buffer
	switch coding {
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "br":
		out, err := brotli.Compress(data, 5)
		if err != nil {
			t.Error(err)
		}
		b.Write(out)
	case "zstd":
		w, _ := zstd.NewWriter(&b)
		w.Write(data)
		w.Close()
	}
	return b.Bytes()
}

// TestReleasePoolLeaksNothingBetweenExchanges: a hostile provider mixes refused cuts
// (RESPONSE_FIELD_TYPE after most records were appended to the reused buffer), compressed
// bodies of three codings, bodiless answers (204, HEAD) and plain ones of different sizes,
// over concurrent connections. Each answer must be exactly its own cut, alone; a refusal
// carries nothing of the provider's body; no answer carries a byte of a bad record or any
// bank account; and the audit record's ResponseDigest is the SM3 of the bytes the
// consumer received — the buffer swapped in, not the provider's that went to the pool.
func TestReleasePoolLeaksNothingBetweenExchanges(t *testing.T) {
	dir := t.TempDir()
	var l *audit.Log
	g := startPolicyGateway(t, 0, hostileTaxRegistry(t), withAuditLog(t, dir, &l))
	addr := strings.TrimPrefix(g.base, "http://")
	type answer struct {
		status  int
		body    string
		receipt string
	}
	get := func(c *fasthttp.HostClient, method, query string) answer {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI(g.base + "/tax/v1/taxpayers?" + query)
		for k, v := range rensheju {
			req.Header.Set(k, v)
		}
		if err := c.Do(req, resp); err != nil {
			t.Error(query, err)
			return answer{}
		}
		// A refusal names its exchange: compared without its request ID.
		body := requestID.ReplaceAllString(string(resp.Body()), `"request_id":""`)
		return answer{resp.StatusCode(), body, string(resp.Header.Peek(wire.HeaderReceipt))}
	}
	client := func() *fasthttp.HostClient {
		return &fasthttp.HostClient{Addr: addr, Dial: func(a string) (net.Conn, error) { return net.Dial("tcp", a) }, MaxConns: 1}
	}
	queries := []string{"n=60", "n=1", "n=60&kind=bad", "n=3&enc=gzip", "n=60&enc=br", "n=1&kind=bad&enc=zstd", "n=2&enc=zstd", "status=204", "n=0", "n=5&kind=bad"}
	// Each answer alone, on a fresh connection and before any other filled the pool.
	want := map[string]answer{}
	for _, q := range queries {
		a := get(client(), "GET", q)
		bad := strings.Contains(q, "kind=bad")
		switch {
		case bad && (a.status != 502 || !strings.Contains(a.body, "RESPONSE_FIELD_TYPE")):
			t.Fatalf("%s: a record of the wrong type: %d %s", q, a.status, a.body)
		case !bad && q != "status=204" && a.status != 200:
			t.Fatalf("%s: %d %s", q, a.status, a.body)
		}
		want[q] = a
	}
	check := func(method, q string, a answer) bool {
		t.Helper()
		if strings.Contains(a.body, "LEAK") || strings.Contains(a.body, "BANK-") || strings.Contains(a.body, "91110100") {
			t.Errorf("%s %s: provider bytes in the answer: %s", method, q, a.body)
			return false
		}
		w := want[q]
		if method == "HEAD" {
			// Nothing to cut, so nothing to refuse: the provider's status, no body.
			w = answer{status: 200}
			if q == "status=204" {
				w.status = 204
			}
		}
		if a.status != w.status || a.body != w.body {
			t.Errorf("%s %s among other exchanges: %d %d bytes, alone %d %d bytes:\n%s", method, q, a.status, len(a.body), w.status, len(w.body), a.body)
			return false
		}
		rec := recordOf(t, l, a.receipt)
		if a.status != 200 {
			return true // the refusal as sent has its request ID, which a.body lost
		}
		sum := crypto.SM3([]byte(a.body))
		if rec.ResponseDigest != hex.EncodeToString(sum[:]) || rec.Bytes.Response != int64(len(a.body)) {
			t.Errorf("%s %s: recorded digest %s of %d bytes, sent %x of %d", method, q, rec.ResponseDigest, rec.Bytes.Response, sum, len(a.body))
			return false
		}
		return true
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			c := client()
			for i := range 40 {
				q := queries[(w*7+i)%len(queries)]
				method := "GET"
				if i%9 == 4 {
					method = "HEAD"
				}
				if !check(method, q, get(c, method, q)) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// releaseSpy runs the real release stage and notes the capacity of the body it leaves in
// the response: the buffer fasthttp keeps for its next response once this one is sent.
type releaseSpy struct {
	gateway.Releaser
	mu       sync.Mutex
	len, cap int
}

func (s *releaseSpy) Release(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	err := s.Releaser.Release(ctx, x)
	s.mu.Lock()
	s.len, s.cap = len(ctx.Response.Body()), cap(ctx.Response.Body())
	s.mu.Unlock()
	return err
}

// TestReleasedBodyIsNotSizedByTheDecodedBody: a hostile provider gzips 8 MiB of records
// whose every member is withheld — 8 KiB on the wire, a cut of a few bytes a record. The
// cut is built in a buffer sized for the decoded body; swapped into the response as it
// is, that capacity (up to limits.max_decompressed_bytes, 64 MiB by default) would outlive
// the exchange in fasthttp's body pool, where the release budget no longer counts it. The
// response must keep no more room than its cut and the provider's wire body need.
func TestReleasedBodyIsNotSizedByTheDecodedBody(t *testing.T) {
	const decoded = 8 << 20
	record := `{"bank_account":"` + strings.Repeat("6", 1000) + `"},`
	n := decoded / len(record)
	plain := "[" + strings.Repeat(record, n) + `{"bank_account":"1"}]`
	gz := compressAs(t, "gzip", []byte(plain))
	spy := &releaseSpy{}
	g := startPolicyGateway(t, 0, func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "gzip")
		ctx.SetBody(gz)
		return true
	}, func(_ string, s *gatewaySetup) {
		s.stages = func(st *gateway.Stages) { spy.Releaser = st.Release; st.Release = spy }
	})
	status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers", "", rensheju)
	if status != 200 || string(body) != "["+strings.Repeat("{},", n)+"{}]" {
		t.Fatalf("status %d, %d bytes: %.100s", status, len(body), body)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	t.Logf("cut of %d bytes (%d gzipped, %d decoded) left in a buffer of %d", spy.len, len(gz), len(plain), spy.cap)
	if limit := 2*spy.len + len(gz) + 64<<10; spy.cap > limit {
		t.Errorf("the released body keeps a buffer of %d bytes for a cut of %d: the decoded body's size outlives the exchange", spy.cap, spy.len)
	}
}

// rawBodyStage sets the provider's answer with SetBodyRaw, from memory the stage keeps
// (as a cache would), before the real release stage runs.
type rawBodyStage struct {
	gateway.Releaser
	raw []byte
}

func (s *rawBodyStage) Release(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	ctx.Response.SetBodyRaw(s.raw)
	return s.Releaser.Release(ctx, x)
}

// TestReleaseTakesNoRawBodyIntoItsPool: a body set without a copy (SetBodyRaw) is not the
// response's buffer, and the swap must not hand it to the pool: if it did, the next cut
// would be written over memory its owner still serves. Forty exchanges later the raw
// body is as it was and every cut is right.
func TestReleaseTakesNoRawBodyIntoItsPool(t *testing.T) {
	const raw = `{"taxpayer_id":"91110108MA01A2B3C4","name":"北京数联科技有限公司","tax_status":"正常","bank_account":"6222020200112233445"}`
	stage := &rawBodyStage{raw: []byte(raw)}
	g := startPolicyGateway(t, 0, taxpayer, func(_ string, s *gatewaySetup) {
		s.stages = func(st *gateway.Stages) { stage.Releaser = st.Release; st.Release = stage }
	})
	const want = `{"taxpayer_id":"**************B3C4","name":"北京数联科技有限公司","tax_status":"正常"}`
	for i := range 40 {
		if status, _, body := do(t, "GET", g.base+"/tax/v1/taxpayers?id=1", "", rensheju); status != 200 || string(body) != want {
			t.Fatalf("exchange %d: %d %s", i, status, body)
		}
	}
	if string(stage.raw) != raw {
		t.Errorf("the raw body was written over: %s", stage.raw)
	}
}
