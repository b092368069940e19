package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
)

// The hostile review of streamed request bodies (issue 19 item 1): framing tricks,
// pipelining after an upload, a provider that answers early, and what the provider's
// connection carried, byte for byte.

// tapProvider is uploadProvider that also keeps every byte each of its connections
// received, so that a test sees the framing the gateway wrote, not net/http's reading of it.
type tapProvider struct {
	*uploadProvider
	mu    sync.Mutex
	conns []*bytes.Buffer
}

type tapConn struct {
	net.Conn
	p   *tapProvider
	buf *bytes.Buffer
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.p.mu.Lock()
	c.buf.Write(b[:n])
	c.p.mu.Unlock()
	return n, err
}

type tapListener struct {
	net.Listener
	p *tapProvider
}

func (l tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	b := &bytes.Buffer{}
	l.p.mu.Lock()
	l.p.conns = append(l.p.conns, b)
	l.p.mu.Unlock()
	return &tapConn{Conn: c, p: l.p, buf: b}, nil
}

// raw is everything the provider's connections received, concatenated.
func (p *tapProvider) raw() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s strings.Builder
	for _, b := range p.conns {
		s.Write(b.Bytes())
	}
	return s.String()
}

// startTapProvider serves as startUploadProvider does; handler, when set, answers
// instead (the body read or not, as it chooses).
func startTapProvider(t testing.TB, handler http.HandlerFunc) *tapProvider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tapProvider{uploadProvider: &uploadProvider{addr: ln.Addr().String(), got: make(chan uploadSeen, 64)}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		p.got <- uploadSeen{n: n, err: err}
		if err == nil {
			fmt.Fprintf(w, "stored %d", n)
		}
	})
	if handler != nil {
		h = handler
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(tapListener{Listener: ln, p: p})
	t.Cleanup(func() { srv.Close() })
	return p
}

func readAnswer(t *testing.T, r *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestUploadProviderEarlyAnswerDoesNotEject: a provider that refuses a large body from
// its head (a 413 before reading it, as net/http answers and closes) makes the gateway's
// write of the body fail. A hostile consumer sending such uploads over and over must not
// get the provider ejected for everyone (passive health): the failure is recorded as the
// provider closing during the upload, not counted, and a small upload still passes.
func TestUploadProviderEarlyAnswerDoesNotEject(t *testing.T) {
	p := startTapProvider(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		if r.ContentLength > 1<<20 {
			w.WriteHeader(413)
			io.WriteString(w, "too large for me")
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "stored %d", n)
	})
	g, aud := startUploadGateway(t, p.addr, 0, 5*time.Second)
	body := patterned(8 << 20)
	send := func(b []byte) (int, string) {
		req, _ := http.NewRequest("POST", g.base+"/upload/changes.csv", bytes.NewReader(b))
		req.Header.Set("X-Test-Dept", "110000-rensheju")
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error() // the gateway closed while the body was still being sent
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(got)
	}
	for i := 0; i < 2*DefaultMaxFails+1; i++ {
		send(body)
		rec := aud.next(t)
		if rec.code != "upstream_closed_upload" || rec.complete || rec.outcome != TransferCut {
			t.Fatalf("early answer %d: recorded %+v", i, rec)
		}
	}
	if status, got := send(body[:1000]); status != 200 || got != "stored 1000" {
		t.Errorf("after the provider's early answers: %d %.200s", status, got)
	}
}

// TestUploadPipelinedAfterUpload: requests pipelined on one keep-alive connection after an
// upload. After one that ended whole — Content-Length, chunked with extensions, an empty
// chunked body, Expect: 100-continue — the next request is answered on its own, and the
// provider received exactly the upload's bytes (never the next request's). After one that
// was refused or cut, the answer says Connection: close and nothing more is read from the
// connection: the rest of a cut body is never taken for a request.
func TestUploadPipelinedAfterUpload(t *testing.T) {
	p := startTapProvider(t, nil)
	g, aud := startUploadGateway(t, p.addr, 1<<20, 2*time.Second)
	next := "GET /population/v1/next HTTP/1.1\r\nHost: gw\r\nX-Test-Dept: 110000-rensheju\r\n\r\n"
	for _, tc := range []struct {
		name, req string
		status    int
		code      string
		n         int64 // bytes the provider read, -1: no upload reached it whole
	}{
		{"content-length", uploadHead + "Content-Length: 5\r\n\r\nhello", 200, "", 5},
		{"chunked with extensions", uploadHead + "Transfer-Encoding: chunked\r\n\r\n2;a=b\r\nhe\r\n3;c=\"d\"\r\nllo\r\n0;z\r\n\r\n", 200, "", 5},
		{"empty chunked", uploadHead + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, "", 0},
		{"expect 100-continue", uploadHead + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello", 200, "", 5},
		{"trailer", uploadHead + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Govgate-Consumer-Dept: 110000-gonganju\r\n\r\n", 400, "trailers_refused", -1},
		{"chunked over the limit", uploadHead + "Transfer-Encoding: chunked\r\n\r\n100001\r\n" + strings.Repeat("x", 1<<20+1) + "\r\n0\r\n\r\n", 413, "upload_too_large", -1},
	} {
		c := dialPlain(t, g.base)
		io.WriteString(c, tc.req+next)
		r := bufio.NewReader(c)
		resp, body := readAnswer(t, r)
		if resp.StatusCode == 100 {
			resp, body = readAnswer(t, r)
		}
		if resp.StatusCode != tc.status || (tc.code != "" && errorCode(t, []byte(body)) != tc.code) {
			t.Errorf("%s: %d %.200s", tc.name, resp.StatusCode, body)
		}
		if rec := aud.next(t); rec.code != tc.code || !rec.upload {
			t.Errorf("%s: recorded %+v", tc.name, rec)
		}
		if tc.n >= 0 {
			if s := p.seen(t); s.err != nil || s.n != tc.n {
				t.Errorf("%s: the provider read %d bytes, err %v", tc.name, s.n, s.err)
			}
			if resp.Close {
				t.Errorf("%s: a whole upload closed the connection", tc.name)
			}
			resp, body = readAnswer(t, r)
			if resp.StatusCode != 200 || body != "stored 0" {
				t.Errorf("%s: the next request: %d %.200s", tc.name, resp.StatusCode, body)
			}
			if rec := aud.next(t); rec.upload || rec.code != "" {
				t.Errorf("%s: the next request recorded %+v", tc.name, rec)
			}
			if s := p.seen(t); s.err != nil || s.n != 0 {
				t.Errorf("%s: the next request reached the provider with %d bytes", tc.name, s.n)
			}
			continue
		}
		if s := p.seen(t); s.err == nil {
			t.Errorf("%s: the provider read a body that ended (%d bytes)", tc.name, s.n)
		}
		if !resp.Close {
			t.Errorf("%s: the refusal does not close the connection", tc.name)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if more, err := r.ReadString('\n'); err == nil {
			t.Errorf("%s: the connection answered again: %q", tc.name, more)
		}
		select {
		case rec := <-aud.ch:
			t.Errorf("%s: a second exchange was recorded: %+v", tc.name, rec)
		default:
		}
	}
}

// TestUploadBoundaries: a body of exactly max_request_bytes passes and one byte more is
// cut, declared or chunked; bodies ending exactly at, one before and one after the
// gateway's window reach the provider whole.
func TestUploadBoundaries(t *testing.T) {
	p := startTapProvider(t, nil)
	const limit = 3 * UploadWindow
	g, aud := startUploadGateway(t, p.addr, limit, 5*time.Second)
	for _, n := range []int{1, UploadWindow - 1, UploadWindow, UploadWindow + 1, 2 * UploadWindow, limit, limit + 1} {
		for _, chunked := range []bool{false, true} {
			body := patterned(n)
			c := dialPlain(t, g.base)
			go func() {
				if chunked {
					fmt.Fprintf(c, "%sTransfer-Encoding: chunked\r\n\r\n", uploadHead)
					for i := 0; i < n; i += 8192 {
						j := min(i+8192, n)
						fmt.Fprintf(c, "%x\r\n%s\r\n", j-i, body[i:j])
					}
					io.WriteString(c, "0\r\n\r\n")
				} else {
					fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", uploadHead, n, body)
				}
			}()
			resp, got := readAnswer(t, bufio.NewReader(c))
			rec := aud.next(t)
			if n > limit {
				if resp.StatusCode != 413 || rec.code != "upload_too_large" || rec.complete {
					t.Errorf("%d bytes, chunked=%v: %d %s, recorded %+v", n, chunked, resp.StatusCode, got, rec)
				}
				if chunked {
					if s := p.seen(t); s.err == nil {
						t.Errorf("%d bytes, chunked: the provider read a body that ended (%d bytes)", n, s.n)
					}
				}
				continue
			}
			if resp.StatusCode != 200 || got != fmt.Sprintf("stored %d", n) || !rec.complete || rec.bytes != int64(n) || rec.digest != sm3Hex(body) {
				t.Errorf("%d bytes, chunked=%v: %d %s, recorded %+v", n, chunked, resp.StatusCode, got, rec)
			}
			if s := p.seen(t); s.err != nil || s.n != int64(n) {
				t.Errorf("%d bytes, chunked=%v: the provider read %d, err %v", n, chunked, s.n, s.err)
			}
		}
	}
	p.none(t)
}

// TestUploadTypedBodiesBuffered: on an exchange route, a body of a kind frameworks read
// method-override parameters from — JSON search criteria, a form, multipart, no
// Content-Type — is not refused for its type: it is read whole, bounded by the route's
// max_body_bytes, scanned as a query route's body is, and forwarded whole (no upload).
// A _method in it is refused before anything is forwarded; one over max_body_bytes is
// 413 body_too_large, with Content-Length or chunked; a CSV body still streams.
func TestUploadTypedBodiesBuffered(t *testing.T) {
	p := startTapProvider(t, nil)
	g, aud := startUploadGateway(t, p.addr, 0, 5*time.Second)
	criteria := `{"region":"110108","status":["存续","在业"],"from":"2026-01-01","fields":["uscc","name"],"pad":"` + strings.Repeat("x", 3<<10) + `"}`
	post := func(ct, body string, chunked bool) (int, string) {
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(r)
		}
		req, _ := http.NewRequest("POST", g.base+"/upload/search", r)
		req.Header.Set("X-Test-Dept", "110000-rensheju")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error() // the gateway closed while the body was still being sent
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, chunked := range []bool{false, true} {
		for _, tc := range []struct{ name, ct, body string }{
			{"json", "application/json", criteria},
			{"problem+json", "application/vnd.govgate.search+json; charset=utf-8", criteria},
			{"form", "application/x-www-form-urlencoded", "region=110108&status=%E5%AD%98%E7%BB%AD"},
			{"no content type", "", "region=110108"},
			{"multipart", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"region\"\r\n\r\n110108\r\n--b--\r\n"},
		} {
			status, got := post(tc.ct, tc.body, chunked)
			if status != 200 || got != fmt.Sprintf("stored %d", len(tc.body)) {
				t.Errorf("%s, chunked=%v: %d %.200s", tc.name, chunked, status, got)
			}
			if rec := aud.next(t); rec.upload || rec.code != "" || rec.bytes != int64(len(tc.body)) {
				t.Errorf("%s, chunked=%v: recorded %+v", tc.name, chunked, rec)
			}
			if s := p.seen(t); s.err != nil || s.n != int64(len(tc.body)) {
				t.Errorf("%s, chunked=%v: the provider read %d bytes, err %v", tc.name, chunked, s.n, s.err)
			}
		}
		for _, tc := range []struct{ name, ct, body string }{
			{"json", "application/json", `{"_method":"DELETE","region":"110108"}`},
			{"form", "application/x-www-form-urlencoded", "region=110108&_method=DELETE"},
			{"no content type", "", "_method=DELETE"},
			{"multipart", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n"},
		} {
			status, got := post(tc.ct, tc.body, chunked)
			if status != 400 || errorCode(t, []byte(got)) != "method_override" {
				t.Errorf("%s with _method, chunked=%v: %d %.200s", tc.name, chunked, status, got)
			}
			if rec := aud.next(t); rec.code != "method_override" {
				t.Errorf("%s with _method, chunked=%v: recorded %+v", tc.name, chunked, rec)
			}
		}
		big := `{"rows":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
		if status, got := post("application/json", big, chunked); status != 0 && (status != 413 || errorCode(t, []byte(got)) != "body_too_large") {
			t.Errorf("json over max_body_bytes, chunked=%v: %d %.200s", chunked, status, got)
		}
		if rec := aud.next(t); rec.code != "body_too_large" || rec.upload {
			t.Errorf("json over max_body_bytes, chunked=%v: recorded %+v", chunked, rec)
		}
		p.none(t)
		csv := string(patterned(DefaultMaxBodyBytes + 1))
		if status, got := post("text/csv", csv, chunked); status != 200 || got != fmt.Sprintf("stored %d", len(csv)) {
			t.Errorf("csv, chunked=%v: %d %.200s", chunked, status, got)
		}
		if rec := aud.next(t); !rec.upload || !rec.complete {
			t.Errorf("csv, chunked=%v: recorded %+v", chunked, rec)
		}
		p.seen(t)
	}
}

// countingReader counts what has been read from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestUploadBackPressure: eight concurrent uploads of 32 MiB to a provider that does not
// read them: the gateway takes from each consumer only what the provider's connection
// takes (the window and the sockets' buffers), so the consumers are held back and the
// process's heap does not grow with what they would send. Once the provider reads, every
// upload completes whole.
func TestUploadBackPressure(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB")
	}
	release := make(chan struct{})
	p := startTapProvider(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		<-release
		n, err := io.Copy(io.Discard, r.Body)
		if err == nil {
			fmt.Fprintf(w, "stored %d", n)
		}
	})
	g, aud := startUploadGateway(t, p.addr, 0, 30*time.Second)
	const each, uploads = 32 << 20, 8
	block := patterned(256 << 10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := heapPeak()
	sources := make([]*countingReader, uploads)
	results := make(chan string, uploads)
	for i := range sources {
		src := &countingReader{r: io.LimitReader(&repeated{block: block}, each)}
		sources[i] = src
		go func() {
			req, _ := http.NewRequest("POST", g.base+"/upload/changes.csv", src)
			req.ContentLength = each
			req.Header.Set("X-Test-Dept", "110000-rensheju")
			req.Header.Set("Content-Type", "text/csv")
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				results <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	time.Sleep(2 * time.Second) // every upload as far as the provider lets it go
	held, _ := stop()
	var sent int64
	for _, s := range sources {
		sent += s.n.Load()
	}
	close(release)
	for range uploads {
		select {
		case r := <-results:
			if r != fmt.Sprintf("200 stored %d", each) {
				t.Errorf("upload: %s", r)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the uploads did not complete once the provider read them")
		}
		if rec := aud.next(t); !rec.complete || rec.bytes != each {
			t.Errorf("recorded %+v", rec)
		}
	}
	growth := int64(held) - int64(base)
	t.Logf("held back: consumers sent %d MiB of %d MiB, heap peak growth %.1f MiB", sent>>20, uploads*each>>20, float64(growth)/(1<<20))
	// The sockets' buffers (consumer, gateway and provider, autotuned on loopback) hold
	// megabytes per connection: the heap is the bound that matters, this only that the
	// consumers were held back at all.
	if sent >= uploads*each {
		t.Errorf("the consumers sent %d of %d bytes to a provider that read nothing", sent, uploads*each)
	}
	if bound := int64(16 << 20); growth > bound {
		t.Errorf("heap grew by %d bytes holding %d uploads back: more than %d", growth, uploads, bound)
	}
}
