package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// The exchange routes of these tests: enterprise registration changes, exchanged in CSV or
// NDJSON to 人社局 under an agreement that releases four columns and masks one; and the
// map tiles, opaque, exchanged whole.
const streamAgreements = `agreements:
  110000-rensheju:
    enterprise.registration:
      - id: AGR-S-0001
        provider: 110000-scjgj
        modes: [exchange, publish]
        purposes: [social-insurance-check]
        fields: [uscc, name, status, legal_representative]
        valid_from: "2020-01-01T00:00:00Z"
        valid_to: "2099-01-01T00:00:00Z"
        mask: {legal_representative: keep-first-1}
`

// withStreamRoutes adds the exchange and publish routes and their agreement.
func withStreamRoutes(limit int64) func(dir string, s *gatewaySetup) {
	return func(dir string, s *gatewaySetup) {
		if err := os.WriteFile(filepath.Join(dir, "agreements.yaml"), []byte(streamAgreements), 0o644); err != nil {
			panic(err)
		}
		cat, err := os.ReadFile(filepath.Join(dir, "catalog.yaml"))
		if err != nil {
			panic(err)
		}
		// The tiles are exchanged too in these tests: an opaque resource, passed whole.
		c := strings.Replace(string(cat), "opaque: true\n    modes: [query]", "opaque: true\n    modes: [query, exchange, publish]", 1)
		c = strings.Replace(c, "modes: [query, exchange]\n    update_frequency: daily\n    application: 共享协议申请表", "modes: [query, exchange, publish]\n    update_frequency: daily\n    application: 共享协议申请表", 1)
		if err := os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(c), 0o644); err != nil {
			panic(err)
		}
		prev := s.config
		s.config = func(cfg *Config) {
			if prev != nil {
				prev(cfg)
			}
			cfg.Routes = append(cfg.Routes,
				Route{ID: "ent-exchange", PathPrefix: "/ent", Resource: "enterprise.registration", Mode: ModeExchange, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second, MaxResponseBytes: limit, TransferTimeout: time.Minute},
				Route{ID: "ent-publish", PathPrefix: "/pub/ent", Resource: "enterprise.registration", Mode: ModePublish, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second, MaxResponseBytes: limit, TransferTimeout: time.Minute},
				Route{ID: "tiles-publish", PathPrefix: "/pub/tiles", Resource: "geographic.tiles", Mode: ModePublish, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second, MaxResponseBytes: limit, TransferTimeout: time.Minute},
				Route{ID: "tiles-exchange", PathPrefix: "/bulk/tiles", Resource: "geographic.tiles", Mode: ModeExchange, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second, MaxResponseBytes: limit, TransferTimeout: time.Minute},
			)
		}
	}
}

var exchanger = map[string]string{"X-Test-Dept": "110000-rensheju", "X-Test-Signed": "1", "X-Govgate-Purpose": "social-insurance-check"}

// streamed is one transfer as a consumer's HTTP client sees it.
type streamedResult struct {
	status  int
	header  http.Header
	body    []byte
	trailer http.Header
	err     error // the body did not end as HTTP says a body ends
}

func getStream(t testing.TB, url string, header map[string]string) streamedResult {
	t.Helper()
	return getStreamWith(t, testClient, url, header)
}

// getStreamWith is getStream through client: a large transfer under the race detector on
// a loaded machine may take longer than testClient's timeout.
func getStreamWith(t testing.TB, client *http.Client, url string, header map[string]string) streamedResult {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return streamedResult{status: resp.StatusCode, header: resp.Header, body: body, trailer: resp.Trailer, err: err}
}

// csvProvider answers with body as text/csv, written in chunks of at most chunk bytes so
// that rows and quoted fields straddle the gateway's reads.
func csvProvider(contentType, body string, chunk int, trailers ...string) func(ctx *fasthttp.RequestCtx) bool {
	return func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType(contentType)
		for i := 0; i+1 < len(trailers); i += 2 {
			ctx.Response.Header.AddTrailer(trailers[i])
		}
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := 0; i < len(body); i += chunk {
				w.WriteString(body[i:min(len(body), i+chunk)])
				w.Flush()
			}
		})
		for i := 0; i+1 < len(trailers); i += 2 {
			ctx.Response.Header.Add(trailers[i], trailers[i+1])
		}
		return true
	}
}

const entCSV = "uscc,name,legal_representative,type,status,address\r\n" +
	"91110108MA01A2B3C4,北京数联科技有限公司,张三丰,有限责任公司,存续,\"北京市海淀区中关村大街1号, 3层\"\r\n" +
	"91110105MA00XYZ12K,\"朝阳\"\"星辰\"\"商贸\",李四,个体,注销,\"北京市朝阳区\n建国路88号\"\r\n"

func TestStreamCSVCutPerRowWithMasks(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"CRLF": {entCSV, "uscc,name,legal_representative,status\r\n" +
			"91110108MA01A2B3C4,北京数联科技有限公司,张**,存续\r\n" +
			"91110105MA00XYZ12K,\"朝阳\"\"星辰\"\"商贸\",李*,注销\r\n"},
		"LF and BOM": {"\ufeff" + strings.ReplaceAll(entCSV, "\r\n", "\n"), "uscc,name,legal_representative,status\n" +
			"91110108MA01A2B3C4,北京数联科技有限公司,张**,存续\n" +
			"91110105MA00XYZ12K,\"朝阳\"\"星辰\"\"商贸\",李*,注销\n"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, chunk := range []int{1, 7, 4096} {
				g := startPolicyGateway(t, 0, csvProvider("text/csv; charset=utf-8", tc.body, chunk), withStreamRoutes(0))
				r := getStream(t, g.base+"/ent/changes.csv", exchanger)
				if r.err != nil || r.status != 200 {
					t.Fatalf("chunk %d: %d %v %s", chunk, r.status, r.err, r.body)
				}
				if string(r.body) != tc.want {
					t.Errorf("chunk %d: released\n%q\nwant\n%q", chunk, r.body, tc.want)
				}
				if r.trailer.Get(wire.HeaderRows) != "2" || r.trailer.Get(wire.HeaderBytes) != fmt.Sprint(len(tc.want)) {
					t.Errorf("chunk %d: trailers %v", chunk, r.trailer)
				}
				if d := r.trailer.Get(wire.HeaderDigest); d != wire.DigestPrefix+sm3Hex(r.body) {
					t.Errorf("chunk %d: digest trailer %q", chunk, d)
				}
				if r.trailer.Get(wire.HeaderReceipt) == "" {
					t.Errorf("no receipt trailer: %v", r.trailer)
				}
			}
		})
	}
}

// getRaw sends a request and returns the raw bytes the gateway wrote until it closed
// the connection or stopped writing.
func getRaw(t testing.TB, base, path string, header map[string]string) string {
	t.Helper()
	c := dialRaw(t.(*testing.T), base)
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: gw\r\n")
	for k, v := range header {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, _ := io.ReadAll(c.r)
	return string(raw)
}

// TestStreamCutIsVisiblyIncomplete: a malformed row in the middle ends the transfer with
// the rows before it sent, X-Govgate-Error after the last-chunk marker and no end of the
// message: an HTTP client reports an error, never a complete shortened dataset.
func TestStreamCutIsVisiblyIncomplete(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业%d,存续\n", i, i)
	}
	rows.WriteString("91119999,\"broken\"x,存续\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&rows, "9112%014d,企业%d,存续\n", i, i)
	}
	g := startPolicyGateway(t, 0, csvProvider("text/csv", rows.String(), 1000), withStreamRoutes(0))
	r := getStream(t, g.base+"/ent/changes.csv", exchanger)
	if r.status != 200 || r.err == nil {
		t.Fatalf("a cut transfer read as complete: %d %v", r.status, r.err)
	}
	if r.trailer.Get(wire.HeaderReceipt) != "" {
		t.Errorf("a cut transfer carries a receipt %q", r.trailer.Get(wire.HeaderReceipt))
	}
	raw := getRaw(t, g.base, "/ent/changes.csv", exchanger)
	if !strings.HasSuffix(raw, "\r\n0\r\n"+wire.HeaderTransferError+": release_refused\r\n") {
		t.Errorf("the wire does not end with the error trailer and no end of message: %q", raw[max(0, len(raw)-200):])
	}
	if strings.Contains(raw, "9112") {
		t.Error("rows after the malformed one were released")
	}
	if e := g.audit.last(); e.code != "release_refused" || e.status != 200 {
		t.Errorf("the cut transfer is recorded as %+v", e)
	}
}

func sm3Hex(b []byte) string {
	d := crypto.SM3(b)
	return fmt.Sprintf("%x", d[:])
}

func newGet(url string, header map[string]string) (*http.Request, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req, nil
}
