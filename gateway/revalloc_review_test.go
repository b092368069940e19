package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// reviewAgreements grant the query route (a part of its fields per body) and the
// exchange route at once, so that one gateway serves both kinds of exchange.
const reviewAgreements = testAgreements + `    enterprise.registration:
      - id: AGR-S-0001
        provider: 110000-scjgj
        modes: [exchange, publish]
        purposes: [social-insurance-check]
        fields: [uscc, name, status, legal_representative]
        valid_from: "2020-01-01T00:00:00Z"
        valid_to: "2099-01-01T00:00:00Z"
`

// reviewBodies are the query route's bodies by id%4: each releases a different part of
// the agreement's fields, so a record that lists another exchange's fields shows.
var reviewBodies = [4]struct{ body, fields string }{
	{`{"name":"北京数联科技有限公司"}`, "name"},
	{`{"tax_status":"正常","taxpayer_id":"91110108MA01A2B3C4"}`, "tax_status,taxpayer_id"},
	{`[{"taxpayer_id":"9"},{"name":"n"}]`, "name,taxpayer_id"},
	{`{}`, ""},
}

// reviewProvider answers a query with reviewBodies[id%4] and an exchange with id%5+1 CSV
// rows (the "big" id with many, for a consumer that goes away mid-transfer).
func reviewProvider(ctx *fasthttp.RequestCtx) bool {
	id, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("id")))
	if !strings.HasPrefix(string(ctx.Path()), "/ent") {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(reviewBodies[id%4].body)
		return true
	}
	rows := id%5 + 1
	if string(ctx.QueryArgs().Peek("big")) == "1" {
		rows = 20000
	}
	var b strings.Builder
	b.WriteString("uscc,name,status\n")
	for i := range rows {
		fmt.Fprintf(&b, "9111%014d,企业%d-%d,存续\n", i, id, i)
		if i == 3000 && string(ctx.QueryArgs().Peek("broken")) == "1" {
			b.WriteString("91119999,\"broken\"x,存续\n") // the gateway cuts the transfer here
		}
	}
	return csvProvider("text/csv", b.String(), 777)(ctx)
}

// reviewSent is one request a worker sent and what its record must say.
type reviewSent struct {
	kind   int // 0 query allowed, 1 query denied, 2 no route, 3 exchange (streamed)
	path   string
	id     int
	client string
}

// TestReviewConcurrentRecordsAndReceiptsAreTheirOwn attacks the audit stage's pooled
// state (the exchange's receipt room, the pending record's decision, reasons, released
// fields, transfer and client address) the way a busy gateway uses it: many connections
// at once, each pipelining allowed, denied, unrouted and streamed exchanges (whose record
// is written at the end, from the body's reader), while consumers go away mid-transfer,
// providers' bodies are cut mid-way and an operator reads records over the admin API. Every response's receipt — header or
// trailer — must name the record of that very request (its request id, path, client
// address, released fields, reasons, rows), and verify offline by an inclusion proof
// against a signed checkpoint. Refused: a record of another exchange, a receipt whose leaf
// is not its record's.
func TestReviewConcurrentRecordsAndReceiptsAreTheirOwn(t *testing.T) {
	var l *audit.Log
	g := startPolicyGateway(t, 0, reviewProvider, withStreamRoutes(0), func(dir string, _ *gatewaySetup) {
		agreements := strings.Replace(reviewAgreements, "QUOTA", "0", 1)
		if err := os.WriteFile(filepath.Join(dir, "agreements.yaml"), []byte(agreements), 0o644); err != nil {
			panic(err)
		}
	}, withAuditLog(t, t.TempDir(), &l))
	const workers, rounds, pipelined = 6, 8, 4
	type answered struct {
		sent    reviewSent
		id      string // X-Request-Id
		receipt string
	}
	var mu sync.Mutex
	var got []answered
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Noise: consumers that leave a large transfer mid-way (recorded as aborted, on the
	// connection's goroutine, with no receipt), and an operator reading records.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n >= 2 { // one transfer left and one cut at least
						return
					}
				default:
				}
				c, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
				if err != nil {
					t.Error(err)
					return
				}
				if n%2 == 1 {
					// A provider's body the gateway cuts mid-way, read to the cut.
					fmt.Fprintf(c, "GET /ent/broken.csv?big=1&broken=1&id=%d HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: social-insurance-check\r\nConnection: close\r\n\r\n", n)
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					io.Copy(io.Discard, c)
					c.Close()
					continue
				}
				fmt.Fprintf(c, "GET /ent/big.csv?big=1&id=%d HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: social-insurance-check\r\n\r\n", n)
				io.ReadFull(c, make([]byte, 4096+n%3*8192))
				c.Close()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			resp, err := http.Get(g.admin + "/audit/records/0")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var clients sync.WaitGroup
	for w := range workers {
		clients.Add(1)
		go func() {
			defer clients.Done()
			c, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			client := c.LocalAddr().String()
			for round := range rounds {
				var batch []reviewSent
				var raw strings.Builder
				for i := range pipelined {
					n := (w*rounds+round)*pipelined + i
					s := reviewSent{kind: (w + round + i) % 4, id: n, client: client}
					purpose := "social-insurance-check"
					switch s.kind {
					case 0:
						s.path = fmt.Sprintf("/tax/v1/x?id=%d", n)
					case 1:
						s.path, purpose = fmt.Sprintf("/tax/v1/x?id=%d&deny=1", n), "marketing"
					case 2:
						s.path = fmt.Sprintf("/nowhere?id=%d", n)
					case 3:
						s.path = fmt.Sprintf("/ent/changes.csv?id=%d", n)
					}
					batch = append(batch, s)
					fmt.Fprintf(&raw, "GET %s HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: %s\r\n\r\n", s.path, purpose)
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.WriteString(c, raw.String()); err != nil {
					t.Error(err)
					return
				}
				for _, s := range batch {
					resp, err := http.ReadResponse(r, nil)
					if err != nil {
						t.Errorf("%s: %v", s.path, err)
						return
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Errorf("%s: body: %v", s.path, err)
						return
					}
					receipt := resp.Header.Get(HeaderReceipt)
					if s.kind == 3 {
						if receipt != "" {
							t.Errorf("%s: a streamed answer's receipt in its head: %s", s.path, receipt)
						}
						receipt = resp.Trailer.Get(wire.HeaderReceipt)
					}
					if receipt == "" {
						t.Errorf("%s: %d without a receipt", s.path, resp.StatusCode)
						continue
					}
					mu.Lock()
					got = append(got, answered{sent: s, id: resp.Header.Get(wire.HeaderRequestID), receipt: receipt})
					mu.Unlock()
				}
			}
		}()
	}
	clients.Wait()
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(got) != workers*rounds*pipelined {
		t.Fatalf("%d answers, want %d", len(got), workers*rounds*pipelined)
	}
	waitFor(t, "a checkpoint of every record", func() bool { c := l.Checkpoint(); return c != nil && c.Size == l.Size() })
	ckpt := l.Checkpoint()
	seen := map[uint64]string{}
	for _, a := range got {
		rec := recordOf(t, l, a.receipt)
		s := a.sent
		if rec.RequestID != a.id || rec.Path != s.path || rec.Client != s.client {
			t.Fatalf("%s (request %s from %s): its receipt names the record of %s %s from %s", s.path, a.id, s.client, rec.RequestID, rec.Path, rec.Client)
		}
		reasons := ""
		if rec.Decision != nil {
			reasons = strings.Join(rec.Decision.Reasons, ",")
		}
		fields := strings.Join(rec.Fields, ",")
		switch s.kind {
		case 0:
			if rec.Status != 200 || fields != reviewBodies[s.id%4].fields || rec.Decision == nil || !rec.Decision.Allow || reasons != "" || rec.Transfer != nil {
				t.Errorf("%s: allowed, recorded with status %d fields %q reasons %q transfer %+v", s.path, rec.Status, fields, reasons, rec.Transfer)
			}
		case 1:
			if rec.Status != 403 || fields != "" || rec.Decision == nil || rec.Decision.Allow || !strings.Contains(reasons, "PURPOSE_NOT_COVERED") || rec.Transfer != nil {
				t.Errorf("%s: denied, recorded with status %d fields %q reasons %q transfer %+v", s.path, rec.Status, fields, reasons, rec.Transfer)
			}
		case 2:
			if rec.Status != 404 || rec.Error != "no_route" || fields != "" || rec.Decision != nil || rec.Transfer != nil {
				t.Errorf("%s: no route, recorded with status %d fields %q decision %+v transfer %+v", s.path, rec.Status, fields, rec.Decision, rec.Transfer)
			}
		case 3:
			if rec.Status != 200 || rec.Transfer == nil || rec.Transfer.Outcome != TransferCompleted || rec.Transfer.Rows != int64(s.id%5+1) ||
				rec.Decision == nil || reasons != "" || fields != "legal_representative,name,status,uscc" {
				t.Errorf("%s: a transfer of %d rows, recorded with status %d transfer %+v fields %q reasons %q", s.path, s.id%5+1, rec.Status, rec.Transfer, fields, reasons)
			}
		}
		r, err := audit.ParseReceipt(a.receipt)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[r.Index]; dup {
			t.Fatalf("record %d is the receipt of %s and of %s", r.Index, other, s.path)
		}
		seen[r.Index] = s.path
		incl, err := l.InclusionProof(r.Index, ckpt.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyReceipt(r, ckpt, incl); err != nil {
			t.Fatalf("%s: receipt %s does not verify against checkpoint %d: %v", s.path, a.receipt, ckpt.Size, err)
		}
		// Refused: the same proof for another leaf.
		forged := r
		forged.Leaf = audit.Hasher{}.HashLeaf([]byte(a.receipt))
		if audit.VerifyReceipt(forged, ckpt, incl) == nil {
			t.Fatalf("%s: a leaf not the record's verifies", s.path)
		}
	}
	// Every record in the log — those without a receipt too: the transfers consumers
	// left, the operator's reads — holds its own exchange's parts and nothing of another's.
	aborted, cut, admin := 0, 0, 0
	for i := range l.Size() {
		b, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := audit.ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rec.Kind == audit.KindAdmin:
			admin++
			if rec.Decision != nil || rec.Transfer != nil || len(rec.Fields) != 0 || rec.Signature != nil || rec.Route != "" {
				t.Fatalf("record %d, an admin read, holds another exchange's parts: %+v", i, rec)
			}
		case strings.HasPrefix(rec.Path, "/ent/big.csv"):
			aborted++
			// Left after the gateway wrote its end into the socket's buffers, it is complete.
			if rec.Transfer == nil || rec.Transfer.Rows > 20000 || (rec.Transfer.Outcome == TransferCompleted) != (rec.Transfer.Rows == 20000 && rec.Error == "") ||
				(strings.Join(rec.Fields, ",") != "legal_representative,name,status,uscc" && (rec.Bytes.Response != 0 || len(rec.Fields) != 0)) || rec.Decision == nil || len(rec.Decision.Reasons) != 0 {
				t.Fatalf("record %d, a transfer its consumer left: %+v %+v", i, rec, rec.Transfer)
			}
		case strings.HasPrefix(rec.Path, "/ent/broken.csv"):
			cut++
			if rec.Transfer == nil || rec.Transfer.Outcome != TransferCut || rec.Transfer.Rows > 3001 || rec.Error == "" || rec.Decision == nil || len(rec.Decision.Reasons) != 0 {
				t.Fatalf("record %d, a transfer the gateway cut: %+v %+v", i, rec, rec.Transfer)
			}
		case strings.HasPrefix(rec.Path, "/nowhere"):
			if rec.Decision != nil || rec.Transfer != nil || len(rec.Fields) != 0 || rec.Error != "no_route" {
				t.Fatalf("record %d, no route: %+v", i, rec)
			}
		}
	}
	if aborted == 0 || cut == 0 || admin == 0 {
		t.Errorf("%d records of transfers left mid-way, %d cut, %d of admin reads: the noise did not run", aborted, cut, admin)
	}
}

// partialAuditor is an audit stage that, on an exchange carrying X-Test-Audit-Fail,
// appends a receipt to the room it is given and then reports the record not durable: a
// stage that failed half-way. Other exchanges go to the real stage.
type partialAuditor struct{ Auditor }

func (a partialAuditor) Audit(ctx *fasthttp.RequestCtx, x *Exchange, receipt []byte) ([]byte, error) {
	if len(ctx.Request.Header.Peek("X-Test-Audit-Fail")) > 0 {
		receipt = append(receipt, "log=govgate/gw-test; index=999999; leaf=AAAA"...)
		return receipt, fmt.Errorf("audit log: sync segment: input/output error")
	}
	return a.Auditor.Audit(ctx, x, receipt)
}

// TestReviewAuditFailureSendsNoPartialReceipt: an audit stage that appended a receipt and
// then failed — a buffered answer, a streamed one, on a keep-alive connection whose
// exchange is reused at once — never lets that receipt out: the answer is 503
// audit_unavailable without X-Govgate-Receipt, the transfer is cut without its trailer,
// and the next exchange's receipt is its own record's, nothing of the failed one's
// before it. Then the real log is closed under the gateway: a record that cannot be made
// durable gets no receipt either (fail closed).
func TestReviewAuditFailureSendsNoPartialReceipt(t *testing.T) {
	var l *audit.Log
	g := startPolicyGateway(t, 0, reviewProvider, withStreamRoutes(0), func(dir string, _ *gatewaySetup) {
		agreements := strings.Replace(reviewAgreements, "QUOTA", "0", 1)
		if err := os.WriteFile(filepath.Join(dir, "agreements.yaml"), []byte(agreements), 0o644); err != nil {
			panic(err)
		}
	}, withAuditLog(t, t.TempDir(), &l), func(_ string, s *gatewaySetup) {
		prev := s.stages
		s.stages = func(st *Stages) {
			if prev != nil {
				prev(st)
			}
			st.Audit = partialAuditor{st.Audit}
		}
	})
	c := dialRaw(t, g.base)
	get := func(path string, fail bool) (*http.Response, []byte) {
		t.Helper()
		extra := ""
		if fail {
			extra = "X-Test-Audit-Fail: 1\r\n"
		}
		return c.roundTrip(t, "GET "+path+" HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nX-Test-Signed: 1\r\nX-Govgate-Purpose: social-insurance-check\r\n"+extra+"\r\n")
	}
	for i := range 3 {
		resp, body := get(fmt.Sprintf("/tax/v1/x?id=%d", i), true)
		if resp.StatusCode != 503 || errorCode(t, body) != "audit_unavailable" || resp.Header.Get(HeaderReceipt) != "" || strings.Contains(string(body), "北京") {
			t.Fatalf("a record not made durable: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		if resp.Close {
			c = dialRaw(t, g.base)
		}
		resp, _ = get(fmt.Sprintf("/tax/v1/x?id=%d", i), false)
		receipt := resp.Header.Get(HeaderReceipt)
		if resp.StatusCode != 200 || !strings.HasPrefix(receipt, "log=govgate/gw-test; index=") || strings.Contains(receipt, "999999") {
			t.Fatalf("the exchange after a failed record: %d, receipt %q", resp.StatusCode, receipt)
		}
		if rec := recordOf(t, l, receipt); rec.RequestID != resp.Header.Get(wire.HeaderRequestID) {
			t.Fatalf("receipt %s names %s", receipt, rec.RequestID)
		}
	}
	// A streamed transfer whose record failed: cut, no receipt trailer.
	raw := getRaw(t, g.base, "/ent/changes.csv?id=3", with(exchanger, "X-Test-Audit-Fail", "1"))
	if !strings.Contains(raw, wire.HeaderTransferError+": audit_unavailable") || strings.Contains(raw, "999999") || strings.Contains(raw, "\r\n"+wire.HeaderReceipt+":") {
		t.Fatalf("a streamed transfer whose record failed:\n%s", raw)
	}
	r := getStream(t, g.base+"/ent/changes.csv?id=3", exchanger)
	if rec := recordOf(t, l, r.trailer.Get(wire.HeaderReceipt)); r.err != nil || rec.Transfer == nil || rec.Transfer.Rows != 4 || rec.RequestID != r.header.Get(wire.HeaderRequestID) {
		t.Fatalf("the transfer after: %v %+v", r.err, rec)
	}
	// Fail closed with the real log: closed under the gateway, it makes nothing durable.
	l.Close()
	status, h, body := do(t, "GET", g.base+"/tax/v1/x?id=1", "", rensheju)
	if status != 503 || errorCode(t, body) != "audit_unavailable" || h.Get(HeaderReceipt) != "" {
		t.Fatalf("with the log closed: %d %v %s", status, h, body)
	}
	raw = getRaw(t, g.base, "/ent/changes.csv?id=3", exchanger)
	if !strings.Contains(raw, wire.HeaderTransferError+": audit_unavailable") || strings.Contains(raw, "\r\n"+wire.HeaderReceipt+":") {
		t.Fatalf("a transfer with the log closed:\n%s", raw)
	}
}
