package loadtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/wire"
)

// Request is what every load request sends.
type Request struct {
	Method    string
	URL       string
	Body      []byte
	Header    map[string]string
	Agreement string
	Purpose   string
}

// HTTPTarget sends over plain HTTP, or standard TLS when the URL is https and tlsConfig
// is given, with up to conns keep-alive connections.
type HTTPTarget struct {
	hc      *fasthttp.HostClient
	req     Request
	path    string
	timeout time.Duration
}

// NewHTTPTarget prepares the connection pool.
func NewHTTPTarget(req Request, tlsConfig *tls.Config, conns int, timeout time.Duration) (*HTTPTarget, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, err
	}
	// fasthttp's pool hands out the connection idle longest (FIFO, its default), so that in
	// open loop N connections are N connections in use, not the few most recently used.
	hc := &fasthttp.HostClient{Addr: u.Host, MaxConns: conns, ReadTimeout: timeout, WriteTimeout: timeout, Name: "govgate-loadtest",
		MaxConnWaitTimeout: timeout}
	if u.Scheme == "https" {
		if tlsConfig == nil {
			return nil, fmt.Errorf("%s: https needs a TLS configuration (or use TLCP)", req.URL)
		}
		hc.IsTLS, hc.TLSConfig = true, tlsConfig
	}
	if req.Method == "" {
		req.Method = fasthttp.MethodGet
	}
	return &HTTPTarget{hc: hc, req: req, path: u.RequestURI(), timeout: timeout}, nil
}

// Do implements Target.
func (h *HTTPTarget) Do(context.Context) (int, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(h.req.Method)
	req.SetRequestURI(h.path)
	if h.hc.IsTLS {
		// A path-only URI is http to fasthttp, and a HostClient refuses a scheme other
		// than its own; once the URI is parsed, the Host it writes is the URI's.
		req.URI().SetScheme("https")
		req.URI().SetHost(h.hc.Addr)
	}
	req.Header.SetHost(h.hc.Addr)
	req.SetBody(h.req.Body)
	for k, v := range h.req.Header {
		req.Header.Set(k, v)
	}
	if h.req.Agreement != "" {
		req.Header.Set(wire.HeaderAgreement, h.req.Agreement)
	}
	if h.req.Purpose != "" {
		req.Header.Set(wire.HeaderPurpose, h.req.Purpose)
	}
	if err := h.hc.DoTimeout(req, resp, h.timeout); err != nil {
		return 0, err
	}
	return resp.StatusCode(), nil
}

// TLCPTarget sends as a department: TLCP with its SM2 pair, each request SM2-signed unless
// the client was made unsigned. Pre-signed requests, when made, go first.
type TLCPTarget struct {
	c      *client.Client
	req    client.Request
	signed []*client.Prepared
	next   atomic.Int64
}

// NewTLCPTarget wraps a department client.
func NewTLCPTarget(c *client.Client, req Request) *TLCPTarget {
	return &TLCPTarget{c: c, req: client.Request{Method: req.Method, URL: req.URL, Body: req.Body, Header: req.Header, Agreement: req.Agreement, Purpose: req.Purpose}}
}

// PreSign builds and signs n requests before the run, so that the generator's own SM2
// signing does not limit the measurement. Each is sent once (the gateway refuses a
// replayed nonce); requests beyond n are signed as they go.
func (t *TLCPTarget) PreSign(n int) error {
	for range n {
		p, err := t.c.Prepare(t.req)
		if err != nil {
			return err
		}
		t.signed = append(t.signed, p)
	}
	return nil
}

// Do implements Target.
func (t *TLCPTarget) Do(ctx context.Context) (int, error) {
	var resp *client.Response
	var err error
	if i := t.next.Add(1) - 1; i < int64(len(t.signed)) {
		p := t.signed[i]
		t.signed[i] = nil
		resp, err = t.c.Send(ctx, p)
		p.Release()
	} else {
		resp, err = t.c.Do(ctx, t.req)
	}
	if err != nil {
		return 0, err
	}
	return resp.Status, nil
}
