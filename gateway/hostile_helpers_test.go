package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawProvider is a hostile or sloppy provider for the hostile-traffic tests: it records
// the exact bytes of every request it receives (head and body, as they crossed the
// socket) and answers with whatever bytes the test scripts — header names in any case,
// duplicates, lying lengths — which no HTTP library would write for it.
type rawProvider struct {
	addr string
	ln   net.Listener

	mu     sync.Mutex
	reqs   [][]byte
	answer func(req []byte) string
	// closeAfter makes the provider close each connection after its answer.
	closeAfter bool
}

// startRawProvider serves on 127.0.0.1. answer gets the raw request and returns the raw
// response; nil answers every request with an empty JSON object.
func startRawProvider(t testing.TB, answer func(req []byte) string) *rawProvider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if answer == nil {
		answer = func([]byte) string { return rawResponse(200, []string{"Content-Type: application/json"}, "{}") }
	}
	p := &rawProvider{addr: ln.Addr().String(), ln: ln, answer: answer}
	go p.serve()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *rawProvider) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serveConn(c)
	}
}

func (p *rawProvider) serveConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		req, err := readRawRequest(r)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, req)
		answer, closeAfter := p.answer, p.closeAfter
		p.mu.Unlock()
		if _, err := io.WriteString(c, answer(req)); err != nil || closeAfter {
			return
		}
	}
}

// setAnswer replaces the scripted answer for later requests.
func (p *rawProvider) setAnswer(answer func(req []byte) string) {
	p.mu.Lock()
	p.answer = answer
	p.mu.Unlock()
}

// requests returns copies of the raw requests received so far, health probes included.
func (p *rawProvider) requests() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]byte, len(p.reqs))
	copy(out, p.reqs)
	return out
}

// count is the number of requests received so far.
func (p *rawProvider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

// last is the last raw request received, or nil.
func (p *rawProvider) last() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		return nil
	}
	return p.reqs[len(p.reqs)-1]
}

// readRawRequest reads one request: the head up to the blank line, then a body framed by
// Content-Length or chunked transfer coding, keeping every byte as it arrived.
func readRawRequest(r *bufio.Reader) ([]byte, error) {
	var raw bytes.Buffer
	contentLength, chunked := 0, false
	for first := true; ; first = false {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		raw.WriteString(line)
		if line == "\r\n" || line == "\n" {
			if first {
				return nil, fmt.Errorf("empty request line")
			}
			break
		}
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			contentLength, _ = strconv.Atoi(strings.TrimSpace(value))
		case "transfer-encoding":
			chunked = strings.Contains(strings.ToLower(value), "chunked")
		}
	}
	if !chunked {
		if _, err := io.CopyN(&raw, r, int64(contentLength)); err != nil {
			return nil, err
		}
		return raw.Bytes(), nil
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		raw.WriteString(line)
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if err != nil {
			return nil, err
		}
		if size == 0 {
			for { // trailers, then the blank line
				line, err := r.ReadString('\n')
				if err != nil {
					return nil, err
				}
				raw.WriteString(line)
				if line == "\r\n" || line == "\n" {
					return raw.Bytes(), nil
				}
			}
		}
		if _, err := io.CopyN(&raw, r, size+2); err != nil {
			return nil, err
		}
	}
}

// rawResponse writes a response with the header lines exactly as given (names, case,
// order, duplicates) and a Content-Length for body.
func rawResponse(status int, headers []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, statusText(status))
	for _, h := range headers {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 404:
		return "Not Found"
	case 500:
		return "Internal Server Error"
	}
	return "Status"
}

// rawHead splits a recorded request into its request line and header lines, and its body.
func rawHead(req []byte) (requestLine string, headers []string, body []byte) {
	head, body, _ := bytes.Cut(req, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	return lines[0], lines[1:], body
}

// rawHeaderValues returns every value of the header named name (any case) in a recorded
// request.
func rawHeaderValues(req []byte, name string) []string {
	_, headers, _ := rawHead(req)
	var out []string
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}
