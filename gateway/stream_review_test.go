package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// A cut transfer's record counts the rows the consumer got, not the rows cut from the
// window that was then withheld: the rows before the malformed one in its window are not
// sent, so they must not be on the record either (the record is what was released).
func TestStreamCutRecordsOnlyRowsSent(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业%d,存续\n", i, i)
	}
	rows.WriteString("91119999,\"broken\"x,存续\n")
	var l *audit.Log
	g := startPolicyGateway(t, 0, csvProvider("text/csv", rows.String(), 1000), withStreamRoutes(0), withAuditLog(t, t.TempDir(), &l))
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.err == nil {
		t.Fatal("a cut transfer read as complete")
	}
	got := int64(bytes.Count(r.body, []byte("\n"))) - 1 // the header row is not a data row
	b, err := l.Record(l.Size() - 1)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audit.ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Transfer == nil || rec.Transfer.Outcome != audit.TransferCut {
		t.Fatalf("record %+v", rec)
	}
	if rec.Transfer.Rows != got || rec.Bytes.Response != int64(len(r.body)) {
		t.Errorf("the record says %d rows and %d bytes were released; the consumer got %d rows in %d bytes", rec.Transfer.Rows, rec.Bytes.Response, got, len(r.body))
	}
}

// A provider that pauses between rows for longer than limits.write_timeout (a slow export,
// a cursor fetching its next page) is not the consumer being slow: write_timeout bounds
// each write to the consumer, so the time spent waiting for the provider must not count
// against it (transfer_timeout bounds that).
func TestStreamProviderPauseIsNotAConsumerWriteTimeout(t *testing.T) {
	var head, tail strings.Builder
	head.WriteString("uscc,name,status\n")
	for i := 0; head.Len() < 3*StreamWindow/4; i++ {
		fmt.Fprintf(&head, "9111%014d,企业%d,存续\n", i, i)
	}
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&tail, "9112%014d,企业%d,存续\n", i, i)
	}
	provider := func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("text/csv")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			w.WriteString(head.String())
			w.Flush()
			time.Sleep(1500 * time.Millisecond)
			w.WriteString(tail.String())
			w.Flush()
		})
		return true
	}
	g := startPolicyGateway(t, 0, provider, withStreamRoutes(0), func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			prev(cfg)
			cfg.Limits.WriteTimeout = 300 * time.Millisecond
		}
	})
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.err != nil || r.status != 200 || r.trailer.Get(wire.HeaderReceipt) == "" || !bytes.Contains(r.body, []byte("911200000000000099")) {
		t.Fatalf("a transfer whose provider paused: %d, %d bytes, receipt %q, %v", r.status, len(r.body), r.trailer.Get(wire.HeaderReceipt), r.err)
	}
}

// A label in a provider's trailer cuts the transfer however the provider spells its name:
// the upstream client keeps header names as they came (no normalising), so a lower-case
// x-classification trailer must be seen as X-Classification.
func TestStreamLabelInTrailerAnyCase(t *testing.T) {
	for _, name := range []string{"X-Classification", "x-classification", "X-CLASSIFICATION"} {
		g, _ := startHostile(t, func([]byte) string {
			return "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nTrailer: " + name + "\r\n\r\n" +
				"13\r\nuscc,name,status\n1,\r\n9\r\na,存续\n\r\n0\r\n" + name + ": secret\r\n\r\n"
		}, withStreamRoutes(0))
		raw := getRaw(t, g.base, "/ent/x.csv", exchanger)
		if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": release_denied\r\n") || strings.Contains(raw, wire.HeaderReceipt+": ") {
			t.Errorf("%s: a label in a trailer did not cut the transfer: %q", name, raw[max(0, len(raw)-200):])
		}
	}
}

// Checked sound: a row longer than the window cuts the transfer (visibly incomplete,
// no receipt), right after the header or mid-stream; a content-coded body is refused; a
// provider that stalls after its head is cut at transfer_timeout, without a receipt.
func TestStreamHostileProviderShapes(t *testing.T) {
	huge := "uscc,name,status\n1,\"" + strings.Repeat("x", StreamWindow) + "\",存续\n"
	g := startPolicyGateway(t, 0, csvProvider("text/csv", huge, 4096), withStreamRoutes(0))
	// The header row is released from the first window, so the long row after it cuts.
	if r := getStream(t, g.base+"/ent/x.csv", exchanger); r.err == nil || r.trailer.Get(wire.HeaderReceipt) != "" || strings.Contains(string(r.body), "xxxx") {
		t.Errorf("a row longer than the window: %d %v %.200s", r.status, r.err, r.body)
	}
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; rows.Len() < StreamWindow; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业%d,存续\n", i, i)
	}
	g = startPolicyGateway(t, 0, csvProvider("text/csv", rows.String()+huge[17:], 4096), withStreamRoutes(0))
	raw := getRaw(t, g.base, "/ent/x.csv", exchanger)
	if !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": release_refused\r\n") {
		t.Errorf("a long row mid-stream: %q", raw[max(0, len(raw)-200):])
	}

	gz := func(ctx *fasthttp.RequestCtx) bool {
		csvProvider("text/csv", "uscc,name\n1,a\n", 4)(ctx)
		ctx.Response.Header.Set("content-encoding", "gzip")
		return true
	}
	g = startPolicyGateway(t, 0, gz, withStreamRoutes(0))
	if r := getStream(t, g.base+"/ent/x.csv", exchanger); r.status != 502 || !strings.Contains(string(r.body), "RESPONSE_ENCODED") {
		t.Errorf("a content-coded body: %d %s", r.status, r.body)
	}

	stall := func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType("text/csv")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			w.WriteString(rows.String())
			w.Flush()
			time.Sleep(5 * time.Second)
		})
		return true
	}
	g = startPolicyGateway(t, 0, stall, withStreamRoutes(0), func(_ string, s *gatewaySetup) {
		prev := s.config
		s.config = func(cfg *Config) {
			prev(cfg)
			for i := range cfg.Routes {
				if cfg.Routes[i].Mode.Streams() {
					cfg.Routes[i].TransferTimeout = time.Second
				}
			}
		}
	})
	r := getStream(t, g.base+"/ent/x.csv", exchanger)
	if r.err == nil || r.trailer.Get(wire.HeaderReceipt) != "" {
		t.Errorf("a provider stalled after its head: %v, receipt %q", r.err, r.trailer.Get(wire.HeaderReceipt))
	}
	if e := g.audit.last(); e.code == "" {
		t.Errorf("the stalled transfer is recorded as %+v", e)
	}
}
