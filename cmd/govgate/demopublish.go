package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
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

// publishedList is one version of a published dataset and its validators. Like most file
// servers it states no Repr-Digest: a resumed download is checked against the whole
// digest the gateway measures and states (X-Govgate-Whole-Digest).
type publishedList struct {
	body []byte
	etag string // strong: the version and the start of the body's SM3
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
	return &publishedList{body: b.Bytes(), etag: fmt.Sprintf(`"%s-%x"`, demoPublishedVersion, sum[:6])}
}

// serve answers as a web server serves a file: validators, a 304 to a consumer that has
// this version, Range from a byte offset with If-Range (what a resumed download, and the
// gateway reading the bytes before it, ask) and 416 past the end.
func (p *publishedList) serve(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderETag, p.etag)
	h.Set(fasthttp.HeaderLastModified, demoPublishedModified.Format(http.TimeFormat))
	h.Set(fasthttp.HeaderAcceptRanges, "bytes")
	if p.notModified(ctx) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType("text/csv; charset=utf-8")
	size := len(p.body)
	from, to, ok := rangeOf(string(ctx.Request.Header.Peek(fasthttp.HeaderRange)), size)
	if ir := ctx.Request.Header.Peek(fasthttp.HeaderIfRange); len(ir) > 0 && string(ir) != p.etag {
		ok = false // another version than the one asked about: the whole of this one
	}
	switch {
	case !ok:
		ctx.SetBody(p.body)
	case from >= size:
		h.Set(fasthttp.HeaderContentRange, "bytes */"+strconv.Itoa(size))
		ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
	default:
		h.Set(fasthttp.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", from, to, size))
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		ctx.SetBody(p.body[from : to+1])
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

// rangeOf reads "bytes=N-" and "bytes=N-M", the forms the demo serves (others get the
// whole): the first and last byte, the last one clamped to the file's end.
func rangeOf(v string, size int) (from, to int, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes=")
	a, b, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || !digits(a) || (b != "" && !digits(b)) {
		return 0, 0, false
	}
	from, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	to = size - 1
	if b != "" {
		if to, err = strconv.Atoi(b); err != nil || to < from {
			return 0, 0, false
		}
		to = min(to, size-1)
	}
	return from, to, true
}

func digits(s string) bool { return s != "" && strings.TrimLeft(s, "0123456789") == "" }
