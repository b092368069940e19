package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	. "github.com/govgate/govgate/gateway"
)

// The streamed-upload suite: consumers send their bodies to an exchange route, byte by
// byte over their own connections — too long, shorter than they said, stalled, gone — and
// a provider behind net/http's server, an HTTP/1.1 reader that tells a body that ended as
// HTTP says from one that broke off, reports what it received.

// uploadSeen is one request body as the provider read it.
type uploadSeen struct {
	n      int64
	digest string
	err    error // the body did not end as its framing says
}

type uploadProvider struct {
	addr string
	got  chan uploadSeen
}

func startUploadProvider(t testing.TB) *uploadProvider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &uploadProvider{addr: ln.Addr().String(), got: make(chan uploadSeen, 16)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		h := crypto.NewSM3()
		n, err := io.Copy(h, r.Body)
		p.got <- uploadSeen{n: n, digest: hex.EncodeToString(h.Sum(nil)), err: err}
		if err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		fmt.Fprintf(w, "stored %d", n)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// seen waits for the provider's account of the next request.
func (p *uploadProvider) seen(t *testing.T) uploadSeen {
	t.Helper()
	select {
	case s := <-p.got:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("the provider saw no request")
		return uploadSeen{}
	}
}

// none checks that no request reached the provider.
func (p *uploadProvider) none(t *testing.T) {
	t.Helper()
	select {
	case s := <-p.got:
		t.Errorf("a request reached the provider: %+v", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// uploadRecord is what the audit stage was given for one exchange.
type uploadRecord struct {
	status   int
	code     string
	upload   bool
	bytes    int64
	digest   string
	complete bool
	outcome  string
}

type uploadAuditor struct{ ch chan uploadRecord }

func (a *uploadAuditor) Audit(ctx *fasthttp.RequestCtx, x *Exchange, receipt []byte) ([]byte, error) {
	r := uploadRecord{status: ctx.Response.StatusCode(), bytes: RequestBytes(ctx, x)}
	if x.Err != nil {
		r.code = x.Err.Code
	}
	if u := x.Upload; u != nil {
		r.upload, r.digest, r.complete, r.outcome = true, u.Digest, u.Complete, u.Outcome(x)
	}
	a.ch <- r
	return append(receipt, "log=test"...), nil
}

func (a *uploadAuditor) next(t *testing.T) uploadRecord {
	t.Helper()
	select {
	case r := <-a.ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no exchange recorded")
		return uploadRecord{}
	}
}

// startUploadGateway runs a plain gateway with an exchange route /upload (opaque: no
// release stage) bounded at maxReq, and the query route /population/v1 of testConfig.
func startUploadGateway(t testing.TB, provider string, maxReq int64, readTimeout time.Duration) (*testGateway, *uploadAuditor) {
	t.Helper()
	cfg := testConfig(provider)
	cfg.Routes = append(cfg.Routes, Route{ID: "upload", PathPrefix: "/upload", Resource: "geographic.tiles", Mode: ModeExchange,
		Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second, MaxRequestBytes: maxReq, TransferTimeout: time.Minute})
	cfg.Limits.ReadTimeout = readTimeout
	aud := &uploadAuditor{ch: make(chan uploadRecord, 16)}
	g := startGateway(t, cfg, Options{Stages: Stages{Authenticate: headerAuthenticator{}, Audit: aud}})
	return g, aud
}

const uploadHead = "POST /upload/changes.csv HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\nContent-Type: text/csv\r\n"

func dialPlain(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// patterned is n bytes of CSV-like rows, the same for the same n.
func patterned(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "91110108MA%08d,北京数联科技有限公司第%d分公司,存续\r\n", i, i)
	}
	return b.Bytes()[:n]
}

// TestUploadStreamsToTheProvider: a body of an exchange route reaches the provider whole,
// with Content-Length or chunked, and the record names its size and digest; a consumer
// body far larger than max_body_bytes (4 MiB by default) passes, since it is not buffered.
func TestUploadStreamsToTheProvider(t *testing.T) {
	p := startUploadProvider(t)
	g, aud := startUploadGateway(t, p.addr, 0, 5*time.Second)
	body := patterned(6 << 20)
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // hides the length: net/http sends it chunked
		}
		req, _ := http.NewRequest("POST", g.base+"/upload/changes.csv", r)
		req.Header.Set("X-Test-Dept", "110000-rensheju")
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != fmt.Sprintf("stored %d", len(body)) {
			t.Errorf("chunked=%v: %d %q", chunked, resp.StatusCode, got)
		}
		s := p.seen(t)
		if s.err != nil || s.n != int64(len(body)) || s.digest != sm3Hex(body) {
			t.Errorf("chunked=%v: the provider read %d bytes, err %v", chunked, s.n, s.err)
		}
		rec := aud.next(t)
		if !rec.upload || !rec.complete || rec.bytes != int64(len(body)) || rec.digest != sm3Hex(body) || rec.outcome != TransferCompleted || rec.code != "" {
			t.Errorf("chunked=%v: recorded %+v", chunked, rec)
		}
	}
}

// TestUploadOverLimitCut: max_request_bytes is counted while the body streams. A declared
// Content-Length over it is refused before anything is forwarded; a chunked body that
// grows past it is cut there, and the provider sees a body that never ended.
func TestUploadOverLimitCut(t *testing.T) {
	p := startUploadProvider(t)
	const limit = 1 << 20
	g, aud := startUploadGateway(t, p.addr, limit, 5*time.Second)
	body := patterned(2 << 20)

	// fasthttp calls the handler once the head and the first 8 KiB of the body are in.
	c := dialPlain(t, g.base)
	fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", uploadHead, len(body), body[:64<<10])
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 {
		t.Errorf("declared over the limit: %d", resp.StatusCode)
	}
	if rec := aud.next(t); rec.code != "upload_too_large" || rec.bytes != 0 {
		t.Errorf("declared over the limit: recorded %+v", rec)
	}
	p.none(t)

	c = dialPlain(t, g.base)
	go func() {
		fmt.Fprintf(c, "%sTransfer-Encoding: chunked\r\n\r\n", uploadHead)
		for i := 0; i < len(body); i += 64 << 10 {
			if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", 64<<10, body[i:i+64<<10]); err != nil {
				return
			}
		}
		io.WriteString(c, "0\r\n\r\n")
	}()
	s := p.seen(t)
	if s.err == nil || s.n > limit {
		t.Errorf("chunked over the limit: the provider read %d bytes, err %v: a body that looks complete", s.n, s.err)
	}
	rec := aud.next(t)
	if rec.code != "upload_too_large" || rec.complete || rec.outcome != TransferCut || rec.bytes <= limit {
		t.Errorf("chunked over the limit: recorded %+v", rec)
	}
}

// TestUploadLyingContentLength: a body shorter than its Content-Length (the consumer
// closes its side early) is cut: the provider never sees the body end, and the exchange
// is recorded as aborted. A body longer than its Content-Length is a request of
// Content-Length bytes followed by bytes that are not a request: the provider gets exactly
// the declared bytes, and the rest is refused as a malformed next request, on the record.
func TestUploadLyingContentLength(t *testing.T) {
	p := startUploadProvider(t)
	g, aud := startUploadGateway(t, p.addr, 0, 5*time.Second)
	body := patterned(1 << 20)

	c := dialPlain(t, g.base)
	fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n", uploadHead, len(body)+4096)
	c.Write(body)
	c.(*net.TCPConn).CloseWrite()
	s := p.seen(t)
	if s.err == nil || s.n >= int64(len(body)+4096) {
		t.Errorf("shorter body: the provider read %d bytes, err %v", s.n, s.err)
	}
	rec := aud.next(t)
	if rec.code != "upload_aborted" || rec.outcome != TransferAborted || rec.complete || rec.bytes != int64(len(body)) || rec.digest != sm3Hex(body) {
		t.Errorf("shorter body: recorded %+v", rec)
	}

	c = dialPlain(t, g.base)
	fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n", uploadHead, len(body))
	c.Write(body)
	io.WriteString(c, "and these bytes too, which the Content-Length did not count\r\n\r\n")
	s = p.seen(t)
	if s.err != nil || s.n != int64(len(body)) || s.digest != sm3Hex(body) {
		t.Errorf("longer body: the provider read %d bytes, err %v", s.n, s.err)
	}
	if rec := aud.next(t); rec.code != "" || !rec.complete {
		t.Errorf("longer body, the request: recorded %+v", rec)
	}
	if rec := aud.next(t); rec.code != "bad_request" {
		t.Errorf("longer body, the bytes after it: recorded %+v", rec)
	}
}

// TestUploadStalledConsumerCut: a consumer that stops sending mid-body is cut after
// limits.read_timeout without a byte; the provider sees the body break off.
func TestUploadStalledConsumerCut(t *testing.T) {
	p := startUploadProvider(t)
	g, aud := startUploadGateway(t, p.addr, 0, time.Second)
	body := patterned(256 << 10)
	c := dialPlain(t, g.base)
	fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n", uploadHead, 1<<20)
	c.Write(body) // and then nothing
	s := p.seen(t)
	if s.err == nil || s.n >= 1<<20 {
		t.Errorf("the provider read %d bytes, err %v", s.n, s.err)
	}
	if rec := aud.next(t); rec.code != "upload_timeout" || rec.outcome != TransferCut || rec.bytes != int64(len(body)) {
		t.Errorf("recorded %+v", rec)
	}
}

// TestUploadConsumerDisconnectRecorded: a consumer that goes away mid-body is recorded as
// aborted, and the provider sees the body break off.
func TestUploadConsumerDisconnectRecorded(t *testing.T) {
	p := startUploadProvider(t)
	g, aud := startUploadGateway(t, p.addr, 0, 5*time.Second)
	body := patterned(512 << 10)
	for _, chunked := range []bool{false, true} {
		c := dialPlain(t, g.base)
		if chunked {
			fmt.Fprintf(c, "%sTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", uploadHead, len(body), body)
		} else {
			fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", uploadHead, 4<<20, body)
		}
		time.Sleep(100 * time.Millisecond)
		c.Close()
		s := p.seen(t)
		if s.err == nil {
			t.Errorf("chunked=%v: the provider read %d bytes and a body that ended", chunked, s.n)
		}
		if rec := aud.next(t); rec.code != "upload_aborted" || rec.outcome != TransferAborted || rec.bytes != int64(len(body)) {
			t.Errorf("chunked=%v: recorded %+v", chunked, rec)
		}
	}
}

// TestUploadQueryRoutesStillBuffered: with request bodies read as streams (a route
// streams), a query route's body is still read whole and bounded by max_body_bytes, with
// Content-Length or chunked, and reaches the provider as before.
func TestUploadQueryRoutesStillBuffered(t *testing.T) {
	up := startUpstream(t, nil)
	g, aud := startUploadGateway(t, up.addr, 0, 5*time.Second)
	for _, chunked := range []bool{false, true} {
		small := string(patterned(20 << 10))
		var r io.Reader = strings.NewReader(small)
		if chunked {
			r = io.MultiReader(r)
		}
		req, _ := http.NewRequest("POST", g.base+"/population/v1/persons", r)
		req.Header.Set("X-Test-Dept", "110000-rensheju")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), small[:28]) {
			t.Errorf("chunked=%v: %d %.200s", chunked, resp.StatusCode, b)
		}
		if rec := aud.next(t); rec.upload || rec.bytes != int64(len(small)) {
			t.Errorf("chunked=%v: recorded %+v", chunked, rec)
		}

		big := patterned(DefaultMaxBodyBytes + 1)
		r = bytes.NewReader(big)
		if chunked {
			r = io.MultiReader(r)
		}
		req, _ = http.NewRequest("POST", g.base+"/population/v1/persons", r)
		req.Header.Set("X-Test-Dept", "110000-rensheju")
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 413 || errorCode(t, b) != "body_too_large" {
				t.Errorf("chunked=%v, over max_body_bytes: %d %s", chunked, resp.StatusCode, b)
			}
		} // else: the gateway closed while the body was still being sent
		if rec := aud.next(t); rec.code != "body_too_large" || rec.upload {
			t.Errorf("chunked=%v, over max_body_bytes: recorded %+v", chunked, rec)
		}
	}
}

// TestUploadMemoryBounded: a body far larger than any buffer the gateway may hold streams
// to the provider, and the heap of the whole process (gateway, provider, consumer) stays
// within a bound a small fraction of it. 256 MiB by default; GOVGATE_STREAM_MIB=1024 sends
// 1 GiB. Measured as TestStreamMemoryBounded measures.
func TestUploadMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB")
	}
	mib := streamMiB(t)
	total := int64(mib) << 20
	p := startUploadProvider(t)
	g, aud := startUploadGateway(t, p.addr, total, 5*time.Second)
	block := patterned(256 << 10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, rssBase := ms.HeapInuse, vmRSS()
	stop := heapPeak()
	sent := crypto.NewSM3()
	src := io.TeeReader(io.LimitReader(&repeated{block: block}, total), sent)
	req, _ := http.NewRequest("POST", g.base+"/upload/changes.csv", src)
	req.ContentLength = total
	req.Header.Set("X-Test-Dept", "110000-rensheju")
	req.Header.Set("Content-Type", "text/csv")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	peak, rssPeak := stop()
	want := hex.EncodeToString(sent.Sum(nil))
	if resp.StatusCode != 200 || string(b) != fmt.Sprintf("stored %d", total) {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	if s := p.seen(t); s.err != nil || s.n != total || s.digest != want {
		t.Errorf("the provider read %d bytes, err %v", s.n, s.err)
	}
	if rec := aud.next(t); rec.bytes != total || rec.digest != want || !rec.complete {
		t.Errorf("recorded %+v", rec)
	}
	growth, rssGrowth := int64(peak)-int64(base), int64(rssPeak)-int64(rssBase)
	t.Logf("%d MiB uploaded: heap in use %d MiB before, peak growth %.1f MiB; VmRSS %d MiB before, peak growth %.1f MiB",
		mib, base>>20, float64(growth)/(1<<20), rssBase>>20, float64(rssGrowth)/(1<<20))
	if bound := int64(32 << 20); growth > bound {
		t.Errorf("heap grew by %d bytes moving %d: more than %d", growth, total, bound)
	}
	// As in TestStreamMemoryBounded: RSS also holds earlier tests' garbage, so the bound
	// is looser, and still a fraction of the transfer.
	if bound := int64(96 << 20); rssBase > 0 && rssGrowth > bound {
		t.Errorf("VmRSS grew by %d bytes moving %d: more than %d", rssGrowth, total, bound)
	}
}

// repeated reads block over and over.
type repeated struct {
	block []byte
	off   int
}

func (r *repeated) Read(p []byte) (int, error) {
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	return n, nil
}

// TestUploadRequestTrailerCut: a chunked upload that sends a trailer section after its
// last chunk — where no header check reaches (X-Govgate-Consumer-Dept, a method override)
// — is cut before its last chunk reaches the provider, and recorded.
func TestUploadRequestTrailerCut(t *testing.T) {
	p := startUploadProvider(t)
	g, aud := startUploadGateway(t, p.addr, 0, 5*time.Second)
	body := patterned(256 << 10)
	c := dialPlain(t, g.base)
	fmt.Fprintf(c, "%sTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\nX-Govgate-Consumer-Dept: 110000-gonganju\r\n\r\n", uploadHead, len(body), body)
	s := p.seen(t)
	if s.err == nil {
		t.Errorf("the provider read %d bytes and a body that ended", s.n)
	}
	if rec := aud.next(t); rec.code != "trailers_refused" || rec.outcome != TransferCut {
		t.Errorf("recorded %+v", rec)
	}
}

// TestUploadCutsDoNotEjectTheProvider: a consumer that breaks off its uploads, over and
// over, makes the gateway abandon the upstream requests — the consumer's fault, not the
// provider's: the provider is not ejected (passive health), and the next upload passes.
func TestUploadCutsDoNotEjectTheProvider(t *testing.T) {
	p := startUploadProvider(t)
	g, aud := startUploadGateway(t, p.addr, 0, 5*time.Second)
	body := patterned(64 << 10)
	for i := 0; i < 2*DefaultMaxFails+1; i++ {
		c := dialPlain(t, g.base)
		fmt.Fprintf(c, "%sTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n10000\r\nshort", uploadHead, len(body), body)
		c.Close()
		p.seen(t)
		if rec := aud.next(t); rec.code != "upload_aborted" {
			t.Fatalf("cut %d: recorded %+v", i, rec)
		}
	}
	req, _ := http.NewRequest("POST", g.base+"/upload/changes.csv", bytes.NewReader(body))
	req.Header.Set("X-Test-Dept", "110000-rensheju")
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after the consumer's cuts: %d %s", resp.StatusCode, b)
	}
}
