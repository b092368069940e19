package gateway_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// publishedCSV is a provider of registration changes on a publish route: a strong ETag for
// its whole document, Last-Modified, and a 304 to an If-None-Match that names its tag. It
// keeps the conditions each request arrived with.
type publishedCSV struct {
	mu       sync.Mutex
	etag     string
	asked    []string // If-None-Match as received, "" when absent
	modified []string // If-Modified-Since as received
}

const publishedRows = "uscc,name,legal_representative,status,registered_capital\r\n91110108MA01A2B3C4,北京数联,张三丰,存续,100万\r\n"

func (p *publishedCSV) serve(ctx *fasthttp.RequestCtx) bool {
	p.mu.Lock()
	p.asked = append(p.asked, string(ctx.Request.Header.Peek("If-None-Match")))
	p.modified = append(p.modified, string(ctx.Request.Header.Peek("If-Modified-Since")))
	etag := p.etag
	p.mu.Unlock()
	ctx.Response.Header.Set("ETag", etag)
	ctx.Response.Header.Set("Last-Modified", "Tue, 01 Dec 2026 06:00:00 GMT")
	for _, t := range strings.Split(string(ctx.Request.Header.Peek("If-None-Match")), ",") {
		if strings.TrimSpace(t) == etag {
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return true
		}
	}
	return csvProvider("text/csv", publishedRows, 16)(ctx)
}

func (p *publishedCSV) lastAsked() (inm, ims string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.asked[len(p.asked)-1], p.modified[len(p.modified)-1]
}

// TestPublishCutConditional: a resource released row by row on a publish route carries
// the gateway's ETag of the cut, never the provider's; that tag, sent back, reaches the
// provider as the provider's own and its 304 comes back with the gateway's tag and a
// receipt, on the record. Last-Modified and If-Modified-Since are not carried.
func TestPublishCutConditional(t *testing.T) {
	p := &publishedCSV{etag: `"reg-2026-12-01"`}
	g := startPolicyGateway(t, 0, p.serve, withStreamRoutes(0))
	r := getStream(t, g.base+"/pub/ent/changes.csv", exchanger)
	tag := r.header.Get("ETag")
	if r.status != 200 || r.err != nil || !strings.HasPrefix(tag, `"`+wire.ReleasedTagPrefix) || strings.Contains(r.header.Get("ETag"), "reg-2026") {
		t.Fatalf("%d %v ETag %q", r.status, r.err, tag)
	}
	if r.header.Get("Last-Modified") != "" {
		t.Errorf("Last-Modified of the whole document released: %q", r.header.Get("Last-Modified"))
	}
	r = getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag, "If-Modified-Since", "Wed, 02 Dec 2026 00:00:00 GMT"))
	if inm, ims := p.lastAsked(); inm != p.etag || ims != "" {
		t.Fatalf("the provider was asked If-None-Match %q, If-Modified-Since %q", inm, ims)
	}
	if r.status != 304 || r.header.Get("ETag") != tag || r.header.Get(wire.HeaderReceipt) == "" || len(r.body) != 0 {
		t.Fatalf("conditional GET: %d %v %q", r.status, r.header, r.body)
	}
	if e := g.audit.last(); e.status != 304 || e.route != "ent-publish" || e.code != "" {
		t.Errorf("the 304 is recorded as %+v", e)
	}
	// A weak comparison (If-None-Match is one) matches W/ of the tag too.
	if r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", "W/"+tag)); r.status != 304 {
		t.Errorf("W/ of the gateway's tag: %d", r.status)
	}
	// If-Modified-Since alone is not forwarded: the full cut.
	r = getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-Modified-Since", "Wed, 02 Dec 2026 00:00:00 GMT"))
	if inm, ims := p.lastAsked(); r.status != 200 || inm != "" || ims != "" {
		t.Errorf("If-Modified-Since on a cut: %d, provider asked %q %q", r.status, inm, ims)
	}
	// A new version of the document: the old tag gets the new cut with a new tag.
	p.mu.Lock()
	p.etag = `"reg-2026-12-02"`
	p.mu.Unlock()
	r = getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag))
	if r.status != 200 || r.header.Get("ETag") == tag || !strings.Contains(string(r.body), "张*") {
		t.Errorf("after a new version: %d %q", r.status, r.header.Get("ETag"))
	}
}

// TestPublishCutConditionalForged: what a consumer sends in If-None-Match reaches the
// provider only as a tag recovered from the gateway's tag of this consumer's release
// profile. The provider's own tag, a tag of another profile, "*", garbage, a tag that
// decodes to a list, a list too long, the field twice: the provider is asked without a
// condition and the consumer gets the whole cut.
func TestPublishCutConditionalForged(t *testing.T) {
	p := &publishedCSV{etag: `"reg-2026-12-01"`}
	g := startPolicyGateway(t, 0, p.serve, withStreamRoutes(0))
	tag := getStream(t, g.base+"/pub/ent/changes.csv", exchanger).header.Get("ETag")
	profile := strings.SplitN(strings.TrimPrefix(strings.Trim(tag, `"`), wire.ReleasedTagPrefix), ".", 2)[0]
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	other := `"` + wire.ReleasedTagPrefix + "AAAAAAAAAAAAAAAA." + enc(p.etag) + `"`
	forged := map[string]string{
		"the provider's tag":           p.etag,
		"another profile":              other,
		"wildcard":                     "*",
		"garbage":                      `"gg2.` + profile + `.!!!"`,
		"unquoted":                     wire.ReleasedTagPrefix + profile + "." + enc(p.etag),
		"decodes to a list":            `"` + wire.ReleasedTagPrefix + profile + "." + enc(p.etag+`, *`) + `"`,
		"decodes to a wildcard":        `"` + wire.ReleasedTagPrefix + profile + "." + enc(`*`) + `"`,
		"a list too long":              strings.Repeat(`"x", `, 40) + tag,
		"header smuggling in the tag":  `"` + wire.ReleasedTagPrefix + profile + "." + enc("\"a\"\r\nX-Injected: 1") + `"`,
		"a valid tag then a bad entry": tag + `, garbage`,
	}
	for name, v := range forged {
		r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", v))
		if inm, _ := p.lastAsked(); r.status != 200 || inm != "" || !strings.Contains(string(r.body), "张*") {
			t.Errorf("%s: %d, the provider was asked If-None-Match %q", name, r.status, inm)
		}
	}
	// Two If-None-Match fields: not one condition.
	raw := getRawHeaders(t, g.base, "/pub/ent/changes.csv", exchanger, "If-None-Match: "+tag, "If-None-Match: "+tag)
	if inm, _ := p.lastAsked(); !strings.HasPrefix(raw, "HTTP/1.1 200") || inm != "" {
		t.Errorf("two If-None-Match fields: %q, the provider was asked %q", raw[:min(len(raw), 40)], inm)
	}
	// The gateway's tag among others of other profiles: only its own tag is forwarded.
	r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", other+", "+tag+", "+p.etag))
	if inm, _ := p.lastAsked(); r.status != 304 || inm != p.etag {
		t.Errorf("a list with the gateway's tag: %d, the provider was asked %q", r.status, inm)
	}
}

// TestPublishCutConditionalAfterReload: a reload that changes the consumer's cut (a mask)
// makes its tag stale — the provider is asked without a condition and the consumer gets
// the cut under the new terms; a reload that leaves its cut as it was (only the agreement's
// validity changed) keeps its tag, so caches stay valid.
func TestPublishCutConditionalAfterReload(t *testing.T) {
	p := &publishedCSV{etag: `"reg-2026-12-01"`}
	g := startPolicyGateway(t, 0, p.serve, withStreamRoutes(0))
	tag := getStream(t, g.base+"/pub/ent/changes.csv", exchanger).header.Get("ETag")
	reload := func(agreements string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(g.dir, "agreements.yaml"), []byte(agreements), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.stage.Engine.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	reload(strings.Replace(streamAgreements, "2099-01-01", "2098-01-01", 1))
	if r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag)); r.status != 304 {
		t.Fatalf("a reload that left the cut as it was: %d", r.status)
	}
	reload(strings.Replace(streamAgreements, "keep-first-1", "redact", 1))
	r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag))
	if inm, _ := p.lastAsked(); r.status != 200 || inm != "" || !strings.Contains(string(r.body), ",***,") || r.header.Get("ETag") == tag {
		t.Fatalf("a reload that changed the mask: %d, asked %q, ETag %q, %s", r.status, inm, r.header.Get("ETag"), r.body)
	}
}

// TestPublishCutProviderValidatorsHostile: a provider's ETag sent twice or malformed gives
// the consumer no validator (nothing to be conditional on); a 304 to a request that was not
// conditional, and a 304 naming a tag the consumer did not hold, are refused and recorded.
func TestPublishCutProviderValidatorsHostile(t *testing.T) {
	for name, set := range map[string]func(h *fasthttp.ResponseHeader){
		"twice":      func(h *fasthttp.ResponseHeader) { h.Add("ETag", `"a"`); h.Add("ETag", `"b"`) },
		"unquoted":   func(h *fasthttp.ResponseHeader) { h.Set("ETag", `reg-2026`) },
		"two in one": func(h *fasthttp.ResponseHeader) { h.Set("ETag", `"a", "b"`) },
		"too long":   func(h *fasthttp.ResponseHeader) { h.Set("ETag", `"`+strings.Repeat("a", 300)+`"`) },
	} {
		answer := func(ctx *fasthttp.RequestCtx) bool {
			set(&ctx.Response.Header)
			return csvProvider("text/csv", publishedRows, 64)(ctx)
		}
		g := startPolicyGateway(t, 0, answer, withStreamRoutes(0))
		r := getStream(t, g.base+"/pub/ent/changes.csv", exchanger)
		if r.status != 200 || r.err != nil || len(r.header.Values("ETag")) != 0 {
			t.Errorf("%s: %d %v ETag %q", name, r.status, r.err, r.header.Values("ETag"))
		}
	}

	always304 := func(ctx *fasthttp.RequestCtx) bool {
		ctx.Response.Header.Set("ETag", `"reg-2026-12-01"`)
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return true
	}
	g := startPolicyGateway(t, 0, always304, withStreamRoutes(0))
	for _, path := range []string{"/pub/ent/changes.csv", "/pub/tiles/2026-12.zip", "/tiles/1/2/3.png"} {
		r := getStream(t, g.base+path, exchanger)
		if r.status != 502 || !strings.Contains(string(r.body), "NOT_MODIFIED_UNASKED") {
			t.Errorf("%s: an unasked 304 passed: %d %s", path, r.status, r.body)
		}
		if e := g.audit.last(); e.status != 502 || e.code != "release_refused" {
			t.Errorf("%s: recorded as %+v", path, e)
		}
	}

	// A 304 naming another tag than the one the consumer holds.
	p := &publishedCSV{etag: `"reg-2026-12-01"`}
	var lying atomic.Bool
	g = startPolicyGateway(t, 0, func(ctx *fasthttp.RequestCtx) bool {
		if lying.Load() {
			ctx.Response.Header.Set("ETag", `"reg-2026-12-02"`)
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return true
		}
		return p.serve(ctx)
	}, withStreamRoutes(0))
	tag := getStream(t, g.base+"/pub/ent/changes.csv", exchanger).header.Get("ETag")
	lying.Store(true)
	if r := getStream(t, g.base+"/pub/ent/changes.csv", with(exchanger, "If-None-Match", tag)); r.status != 502 || !strings.Contains(string(r.body), "NOT_MODIFIED_OTHER_TAG") {
		t.Errorf("a 304 of another tag: %d %s", r.status, r.body)
	}
}

// TestPublish304WithBodyDoesNotReachTheNextExchange: a provider that sends a body after
// its 304 (the upstream client reads none) must not have those bytes read as the answer
// to the next exchange on the same connection — another consumer's. (The pool's stale-
// connection check, upstream.go retryStale, finds the bytes on the idle connection before
// the next request is written, and dials anew.)
func TestPublish304WithBodyDoesNotReachTheNextExchange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	smuggled := "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: 7\r\n\r\nFORGED!"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						head.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					h := strings.ToLower(head.String())
					if strings.Contains(h, "\r\nif-none-match:") {
						c.Write([]byte("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled))
					} else {
						c.Write([]byte("HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Type: application/zip\r\nContent-Length: 7\r\n\r\nPK-real"))
					}
					if strings.Contains(h, "\r\nconnection: close") {
						return
					}
				}
			}(c)
		}
	}()
	g := startPolicyGateway(t, 0, nil, withStreamRoutes(0), func(_ string, s *gatewaySetup) { s.provider = ln.Addr().String() })
	if r := getStream(t, g.base+"/pub/tiles/2026-12.zip", exchanger); r.status != 200 || string(r.body) != "PK-real" {
		t.Fatalf("first: %d %q", r.status, r.body)
	}
	if r := getStream(t, g.base+"/pub/tiles/2026-12.zip", with(exchanger, "If-None-Match", `"v1"`)); r.status != 304 {
		t.Fatalf("conditional: %d %q", r.status, r.body)
	}
	for i := 0; i < 3; i++ {
		if r := getStream(t, g.base+"/pub/tiles/2026-12.zip", exchanger); string(r.body) != "PK-real" {
			t.Fatalf("the exchange after a 304 with a body got %d %q", r.status, r.body)
		}
	}
}

// getRawHeaders sends a GET with extra raw header lines (a field twice) and reads the
// answer until the gateway closes.
func getRawHeaders(t *testing.T, base, path string, header map[string]string, lines ...string) string {
	t.Helper()
	c := dialRaw(t, base)
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n")
	for k, v := range header {
		b.WriteString(k + ": " + v + "\r\n")
	}
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, _ := io.ReadAll(c.r)
	return string(raw)
}
