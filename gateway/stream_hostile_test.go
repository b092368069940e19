package gateway_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// TestStreamUnknownColumnRefusedBeforeFirstByte: a CSV header naming a column the catalog
// does not declare is refused as an ordinary 502, before anything of the body leaves.
func TestStreamUnknownColumnRefusedBeforeFirstByte(t *testing.T) {
	body := "uscc,name,secret_score,status\n91110108MA01A2B3C4,北京数联,99,存续\n"
	g := startPolicyGateway(t, 0, csvProvider("text/csv", body, 5), withStreamRoutes(0))
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.status != 502 || !strings.Contains(string(r.body), "CSV_UNKNOWN_COLUMN") || strings.Contains(string(r.body), "91110108") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if e := g.audit.last(); e.code != "release_refused" || e.status != 502 {
		t.Errorf("recorded as %+v", e)
	}
}

// TestStreamNDJSONCutPerRow: NDJSON members are cut and masked per line; a line that is
// not an object cuts the transfer there, visibly.
func TestStreamNDJSONCutPerRow(t *testing.T) {
	lines := `{"uscc":"91110108MA01A2B3C4","name":"北京数联","legal_representative":"张三丰","address":"海淀区","status":"存续"}` + "\n" +
		"\r\n" +
		`{"name":"朝阳,星辰\n商贸","legal_representative":"李四","registered_capital":"100万"}` + "\r\n"
	for _, mt := range []string{"application/x-ndjson", "application/jsonl"} {
		g := startPolicyGateway(t, 0, csvProvider(mt, lines, 3), withStreamRoutes(0))
		r := getStream(t, g.base+"/ent/changes", exchanger)
		want := `{"uscc":"91110108MA01A2B3C4","name":"北京数联","legal_representative":"张**","status":"存续"}` + "\n" +
			`{"name":"朝阳,星辰\n商贸","legal_representative":"李*"}` + "\n"
		if r.err != nil || r.status != 200 || string(r.body) != want {
			t.Fatalf("%s: %d %v\n%s", mt, r.status, r.err, r.body)
		}
		if r.trailer.Get(wire.HeaderRows) != "2" {
			t.Errorf("rows %q", r.trailer.Get(wire.HeaderRows))
		}
	}
	bad := strings.Repeat(`{"uscc":"1","name":"a"}`+"\n", 3000) + "[1,2]\n" + `{"uscc":"after"}` + "\n"
	g := startPolicyGateway(t, 0, csvProvider("application/x-ndjson", bad, 4096), withStreamRoutes(0))
	r := getStream(t, g.base+"/ent/changes", exchanger)
	if r.err == nil || strings.Contains(string(r.body), "after") {
		t.Fatalf("a malformed line mid-stream did not cut the transfer: %v", r.err)
	}
}

// TestStreamEndlessProviderCutAtLimit: a provider whose body never ends is cut once the
// route's max_response_bytes is read, and the cut is recorded.
func TestStreamEndlessProviderCutAtLimit(t *testing.T) {
	const limit = 1 << 20
	endless := func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("image/png")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			chunk := make([]byte, 32<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
			}
		})
		return true
	}
	g := startPolicyGateway(t, 0, endless, withStreamRoutes(limit))
	raw := getRaw(t, g.base, "/bulk/tiles/all", exchanger)
	if !strings.HasSuffix(raw, "\r\n0\r\n"+wire.HeaderTransferError+": upstream_response_too_large\r\n") {
		t.Errorf("not cut at the limit: %q", raw[max(0, len(raw)-120):])
	}
	if n := len(raw); n > limit+64<<10 {
		t.Errorf("%d bytes sent for a limit of %d", n, limit)
	}
	if e := g.audit.last(); e.code != "upstream_response_too_large" {
		t.Errorf("recorded as %+v", e)
	}
}

// TestStreamProviderTrailersNeverReachTheConsumer: a provider's trailers — a forged
// receipt, a duplicated one — are not forwarded; a label in a trailer, after rows went out
// under the head's label, cuts the transfer.
func TestStreamProviderTrailersNeverReachTheConsumer(t *testing.T) {
	body := "uscc,name,status\n1,a,存续\n"
	g := startPolicyGateway(t, 0, csvProvider("text/csv", body, 4, "X-Govgate-Receipt", "forged", "X-Govgate-Digest", "sm3=00", "X-Total", "1"), withStreamRoutes(0))
	r := getStream(t, g.base+"/ent/x.csv", exchanger)
	if r.err != nil || r.trailer.Get(wire.HeaderReceipt) == "forged" || len(r.trailer.Values(wire.HeaderReceipt)) != 1 {
		t.Fatalf("%v %v", r.err, r.trailer)
	}
	if r.trailer.Get("X-Total") != "" {
		t.Error("a provider trailer was forwarded")
	}

	g = startPolicyGateway(t, 0, csvProvider("text/csv", body, 4, "X-Classification", "secret"), withStreamRoutes(0))
	raw := getRaw(t, g.base, "/ent/x.csv", exchanger)
	if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": release_denied\r\n") || strings.Contains(raw, wire.HeaderReceipt+": ") {
		t.Errorf("a label in a trailer did not cut the transfer: %q", raw)
	}
}

// TestStreamContentLengthThatLies: a provider that announces more than it sends and closes
// cuts the transfer; the consumer never gets a complete-looking shorter body.
func TestStreamContentLengthThatLies(t *testing.T) {
	rows := "uscc,name\n" + strings.Repeat("91110108MA01A2B3C4,北京数联科技有限公司\n", 8000)
	g, rp := startHostile(t, func([]byte) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n" + rows
	}, withStreamRoutes(0))
	rp.mu.Lock()
	rp.closeAfter = true
	rp.mu.Unlock()
	r := getStream(t, g.base+"/ent/x.csv", exchanger)
	if r.err == nil {
		t.Fatalf("a short body read as complete: %d bytes", len(r.body))
	}
	raw := getRaw(t, g.base, "/ent/x.csv", exchanger)
	if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": upstream_closed\r\n") {
		t.Errorf("%q", raw[max(0, len(raw)-200):])
	}
}

// TestStreamLabelAboveCeilingRefusedBeforeFirstByte: the label of the head is checked
// before any byte of the body leaves.
func TestStreamLabelAboveCeilingRefusedBeforeFirstByte(t *testing.T) {
	answer := func(ctx *fasthttp.RequestCtx) bool {
		csvProvider("text/csv", "uscc,name\n1,a\n", 4)(ctx)
		ctx.Response.Header.Set("X-Classification", "secret")
		return true
	}
	g := startPolicyGateway(t, 0, answer, withStreamRoutes(0))
	r := getStream(t, g.base+"/ent/x.csv", exchanger)
	if r.status != 403 || strings.Contains(string(r.body), "uscc") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// TestStreamNotTabularRefused: a resource released by fields takes only CSV and NDJSON in
// a stream; an opaque type is refused unless the catalog marks the resource opaque.
func TestStreamNotTabularRefused(t *testing.T) {
	for _, ct := range []string{"application/octet-stream", "application/zip", "application/json", "text/csv; charset=gbk"} {
		g := startPolicyGateway(t, 0, csvProvider(ct, "uscc,name\n1,a\n", 4), withStreamRoutes(0))
		r := getStream(t, g.base+"/ent/x", exchanger)
		if r.status != 502 || !strings.Contains(string(r.body), "RESPONSE_NOT_TABULAR") {
			t.Errorf("%s: %d %s", ct, r.status, r.body)
		}
	}
	g := startPolicyGateway(t, 0, csvProvider("application/zip", "PK\x03\x04anything", 4), withStreamRoutes(0))
	if r := getStream(t, g.base+"/bulk/tiles/all.zip", exchanger); r.status != 200 || string(r.body) != "PK\x03\x04anything" || r.err != nil {
		t.Errorf("opaque resource: %d %q %v", r.status, r.body, r.err)
	}
}

// TestStreamRecordedWhenTheTransferEnds: with the real audit log, the receipt trailer
// names a durable record of the transfer: its outcome, rows, the bytes and digests of both
// sides; a log that cannot make the record durable ends the transfer without a receipt.
func TestStreamRecordedWhenTheTransferEnds(t *testing.T) {
	var l *audit.Log
	g := startPolicyGateway(t, 0, csvProvider("text/csv", entCSV, 50), withStreamRoutes(0), withAuditLog(t, t.TempDir(), &l))
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.err != nil || r.status != 200 {
		t.Fatalf("%d %v", r.status, r.err)
	}
	rec := recordOf(t, l, r.trailer.Get(wire.HeaderReceipt))
	tr := rec.Transfer
	if tr == nil || tr.Outcome != audit.TransferCompleted || tr.Rows != 2 || tr.Received != int64(len(entCSV)) || tr.ReceivedDigest != sm3Hex([]byte(entCSV)) {
		t.Fatalf("transfer recorded as %+v", tr)
	}
	if rec.Bytes.Response != int64(len(r.body)) || rec.ResponseDigest != sm3Hex(r.body) || rec.Mode != "exchange" || rec.Error != "" {
		t.Errorf("record %+v", rec)
	}
	if tr.RequestDigest != sm3Hex(nil) {
		t.Errorf("request digest %s", tr.RequestDigest)
	}

	f := startPolicyGateway(t, 0, csvProvider("text/csv", entCSV, 50), withStreamRoutes(0), func(_ string, s *gatewaySetup) { s.auditor = &recordingAuditor{fail: true} })
	raw := getRaw(t, f.base, "/ent/changes.csv", exchanger)
	if strings.Contains(raw, "\r\n"+wire.HeaderReceipt+":") || !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": audit_unavailable\r\n") {
		t.Errorf("a transfer without a durable record ended as %q", raw[max(0, len(raw)-150):])
	}
	if !strings.Contains(raw, "Trailer: ") {
		t.Error("trailers not announced")
	}
	_ = fmt.Sprint
}

// TestStreamConsumerGoneIsRecordedAborted: a consumer that goes away mid-transfer leaves a
// record of the partial transfer (aborted), and the provider's stream is let go.
func TestStreamConsumerGoneIsRecordedAborted(t *testing.T) {
	block, _ := registrationBlock(256 << 10)
	g := startPolicyGateway(t, 0, bulkProvider("text/csv", block, 400), withStreamRoutes(0))
	c := dialRaw(t, g.base)
	if _, err := c.Write([]byte("GET /ent/changes.csv HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: social-insurance-check\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.r.Read(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "the aborted transfer's record", func() bool {
		g.audit.mu.Lock()
		defer g.audit.mu.Unlock()
		return len(g.audit.entries) > 0 && g.audit.entries[len(g.audit.entries)-1].code == "transfer_aborted"
	})
}

// TestPublishConditionalRequestAudited: on a publish route of an opaque dataset, the
// validators pass both ways: the 200 streams with its ETag and Last-Modified, a
// conditional GET reaches the provider and its 304 comes back with a receipt — a 304 is an
// exchange too, on the record with its status.
func TestPublishConditionalRequestAudited(t *testing.T) {
	const etag = `"v2026.12"`
	answer := func(ctx *fasthttp.RequestCtx) bool {
		ctx.Response.Header.Set("ETag", etag)
		ctx.Response.Header.Set("Last-Modified", "Tue, 01 Dec 2026 00:00:00 GMT")
		if string(ctx.Request.Header.Peek("If-None-Match")) == etag {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return true
		}
		return csvProvider("application/zip", "PK\x03\x04dataset", 3)(ctx)
	}
	g := startPolicyGateway(t, 0, answer, withStreamRoutes(0))
	r := getStream(t, g.base+"/pub/tiles/2026-12.zip", exchanger)
	if r.status != 200 || r.err != nil || r.header.Get("ETag") != etag || r.header.Get("Last-Modified") == "" || r.trailer.Get(wire.HeaderReceipt) == "" {
		t.Fatalf("%d %v %v %v", r.status, r.err, r.header, r.trailer)
	}
	r = getStream(t, g.base+"/pub/tiles/2026-12.zip", with(exchanger, "If-None-Match", etag))
	if r.status != 304 || r.header.Get("ETag") != etag || r.header.Get(wire.HeaderReceipt) == "" || len(r.body) != 0 {
		t.Fatalf("conditional GET: %d %v %q", r.status, r.header, r.body)
	}
	if e := g.audit.last(); e.status != 304 || e.route != "tiles-publish" || e.code != "" {
		t.Errorf("the 304 is recorded as %+v", e)
	}
}

// TestStreamVolumeQuota: an agreement bounding rows a day ends the transfer that crosses
// the bound, visibly (or refuses it before its first byte), and refuses the next one
// before any byte leaves.
func TestStreamVolumeQuota(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业第%d号,存续\n", i, i)
	}
	quota := func(dir string, s *gatewaySetup) {
		a := strings.Replace(streamAgreements, "        mask:", "        quota: {rows_per_day: 7000}\n        mask:", 1)
		if err := os.WriteFile(filepath.Join(dir, "agreements.yaml"), []byte(a), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := startPolicyGateway(t, 0, csvProvider("text/csv", rows.String(), 4096), withStreamRoutes(0), quota)
	if r := getStream(t, g.base+"/ent/changes.csv", exchanger); r.err != nil || r.status != 200 || r.trailer.Get(wire.HeaderRows) != "5000" {
		t.Fatalf("first transfer: %d %v %v", r.status, r.err, r.trailer)
	}
	raw := getRaw(t, g.base, "/ent/changes.csv", exchanger)
	if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": quota_exceeded\r\n") && !strings.HasPrefix(raw, "HTTP/1.1 429") {
		t.Fatalf("the transfer crossing the volume ended as %q", raw[max(0, len(raw)-120):])
	}
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.status != 429 || !strings.Contains(string(r.body), "VOLUME_EXCEEDED") {
		t.Fatalf("after the volume: %d %s", r.status, r.body)
	}
	if e := g.audit.last(); e.code != "quota_exceeded" {
		t.Errorf("recorded as %+v", e)
	}
}

// TestStreamRangeOnOpaqueExchange: on an opaque exchange route that releases Content-Range
// and Repr-Digest, a Range request reaches the provider, its 206 streams back with its
// Content-Range, the trailers digest the part sent, and each range is its own record.
func TestStreamRangeOnOpaqueExchange(t *testing.T) {
	blob := []byte(strings.Repeat("PK\x03\x04 registration archive ", 12000))
	sum := crypto.SM3(blob)
	repr := "sm3=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	answer := func(ctx *fasthttp.RequestCtx) bool {
		ctx.Response.Header.Set("Repr-Digest", repr)
		ctx.SetContentType("application/zip")
		var from int
		if r := string(ctx.Request.Header.Peek("Range")); r != "" {
			fmt.Sscanf(r, "bytes=%d-", &from)
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			ctx.Response.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(blob)-1, len(blob)))
		}
		ctx.SetBody(blob[from:])
		return true
	}
	release := func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			prev(cfg)
			for i := range cfg.Routes {
				if cfg.Routes[i].ID == "tiles-exchange" {
					cfg.Routes[i].ResponseHeaders = []string{"Content-Range", "Repr-Digest"}
				}
			}
		}
	}
	g := startPolicyGateway(t, 0, answer, withStreamRoutes(0), release)
	r := getStream(t, g.base+"/bulk/tiles/archive.zip", with(exchanger, "Range", "bytes=100000-"))
	if r.err != nil || r.status != 206 || string(r.body) != string(blob[100000:]) {
		t.Fatalf("%d %v %d bytes", r.status, r.err, len(r.body))
	}
	if cr := r.header.Get("Content-Range"); cr != fmt.Sprintf("bytes 100000-%d/%d", len(blob)-1, len(blob)) || r.header.Get("Repr-Digest") != repr {
		t.Errorf("Content-Range %q, Repr-Digest %q", cr, r.header.Get("Repr-Digest"))
	}
	if d := r.trailer.Get(wire.HeaderDigest); d != wire.DigestPrefix+sm3Hex(blob[100000:]) {
		t.Errorf("digest trailer %q is not of the part sent", d)
	}
	if e := g.audit.last(); e.status != 206 || e.route != "tiles-exchange" {
		t.Errorf("the range is recorded as %+v", e)
	}
}
