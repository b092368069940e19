package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// The demo's published dataset (发布): the market regulator's daily list of legal entities
// (法人名录), served whole to every department at /legal-entity/published/entities.csv.
// rego/catalog.yaml lists it (legal_entity.published_list) with this version and this
// size; TestDemoPublishedList checks that the two agree.
const (
	demoPublishedPath    = "/legal-entity/published/entities.csv"
	demoPublishedVersion = "2026-12-01"
	demoPublishedRows    = 250_000
)

// demoPublishedModified is when the version was published: its Last-Modified.
var demoPublishedModified = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)

// publishedList is one version of a published dataset and its validators.
type publishedList struct {
	body []byte
	etag string // strong: the version and the start of the body's SM3
	repr string // Repr-Digest of the whole (RFC 9530, sm3)
}

// demoPublishedList generates the list: the same bytes at every start, so that its size
// and digest are the version's.
func demoPublishedList() *publishedList {
	var b bytes.Buffer
	b.WriteString("uscc,name,type,established_on,status,registration_authority\r\n")
	for i := 0; i < demoPublishedRows; i++ {
		fmt.Fprintf(&b, "91110000MA%08d,北京市第%d号法人单位,有限责任公司,20%02d-%02d-%02d,存续,北京市市场监督管理局\r\n",
			i, i, 10+i%15, i%12+1, i%28+1)
	}
	sum := crypto.SM3(b.Bytes())
	return &publishedList{body: b.Bytes(),
		etag: fmt.Sprintf(`"%s-%x"`, demoPublishedVersion, sum[:6]),
		repr: "sm3=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"}
}

// serve answers as a web server serves a file: validators, a 304 to a consumer that has
// this version, Range from a byte offset (what a resumed download asks) and 416 past the end.
func (p *publishedList) serve(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderETag, p.etag)
	h.Set(fasthttp.HeaderLastModified, demoPublishedModified.Format(http.TimeFormat))
	h.Set(fasthttp.HeaderAcceptRanges, "bytes")
	h.Set(wire.HeaderReprDigest, p.repr)
	if p.notModified(ctx) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType("text/csv; charset=utf-8")
	size := len(p.body)
	from, ok := rangeStart(string(ctx.Request.Header.Peek(fasthttp.HeaderRange)))
	switch {
	case !ok:
		ctx.SetBody(p.body)
	case from >= size:
		h.Set(fasthttp.HeaderContentRange, "bytes */"+strconv.Itoa(size))
		ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
	default:
		h.Set(fasthttp.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", from, size-1, size))
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		ctx.SetBody(p.body[from:])
	}
}

func (p *publishedList) notModified(ctx *fasthttp.RequestCtx) bool {
	if inm := string(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch)); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			if t := strings.TrimSpace(tag); t == p.etag || t == "*" {
				return true
			}
		}
		return false
	}
	since, err := http.ParseTime(string(ctx.Request.Header.Peek(fasthttp.HeaderIfModifiedSince)))
	return err == nil && !demoPublishedModified.After(since)
}

// rangeStart reads "bytes=N-", the only form the demo serves (others get the whole).
func rangeStart(v string) (int, bool) {
	rest, ok := strings.CutPrefix(v, "bytes=")
	if !ok || !strings.HasSuffix(rest, "-") {
		return 0, false
	}
	digits := strings.TrimSuffix(rest, "-")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}
