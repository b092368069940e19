package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/wire"
)

// Config is how a department calls the gateway.
type Config struct {
	// Identity is the department's TLCP pair; its signing key also signs requests.
	Identity *tlcp.Identity
	// Trust holds the CAs the gateway's certificate must chain to.
	Trust *tlcp.TrustSource
	// ServerName is the name the gateway's certificate must carry; default: the URL host.
	ServerName string
	// Unsigned sends requests without an SM2 request signature.
	Unsigned bool
	// Timeout bounds one request, handshake included; default 30 s.
	Timeout time.Duration
	// MaxConns bounds the keep-alive connections to one gateway; default 512. A request
	// that finds them all busy waits for one, up to Timeout.
	MaxConns int
	// Suites are the TLCP cipher suites offered, most preferred first; nil is
	// tlcp.DefaultSuites(). The gateway's preference decides among them.
	Suites []tlcp.Suite
}

// Client calls the gateway over TLCP with keep-alive connections, signing every request.
type Client struct {
	cfg    Config
	signer *crypto.Signer
	keyID  string

	mu    sync.Mutex
	hosts map[string]*fasthttp.HostClient
	// tlsSeen is, per plain host, whether a server answered in TLCP/TLS (plainsniff.go).
	tlsSeen map[string]*atomic.Bool
}

// New returns a client; it refuses an identity whose certificates and keys do not match.
func New(cfg Config) (*Client, error) {
	if err := cfg.Identity.Check(); err != nil {
		return nil, err
	}
	if cfg.Trust == nil || cfg.Trust.Load() == nil {
		return nil, errors.New("client: no CA to verify the gateway with")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Client{
		cfg:     cfg,
		signer:  crypto.NewSigner(cfg.Identity.SignKey),
		keyID:   fmt.Sprintf("%x", cfg.Identity.SignCert.SerialNumber),
		hosts:   map[string]*fasthttp.HostClient{},
		tlsSeen: map[string]*atomic.Bool{},
	}, nil
}

// Request is one call.
type Request struct {
	Method    string
	URL       string // https://host:port/path?query (TLCP) or http:// for a loopback plain listener
	Body      []byte
	Header    map[string]string
	Agreement string // X-Govgate-Agreement: the sharing agreement the call is made under
	Purpose   string // X-Govgate-Purpose: what the data is for
	// BodyFile, instead of Body, is a file sent as the body without being held in memory
	// (upload.go): read once for its SM3 Content-Digest, which is signed, then streamed.
	BodyFile string
}

// Response is the gateway's answer.
type Response struct {
	Status int
	Header map[string][]string
	Body   []byte
	// Size is the body's length: len(Body), or the bytes SendTo streamed.
	Size      int64
	Receipt   string // X-Govgate-Receipt
	RequestID string
	// RecordKind is X-Govgate-Record-Kind: "admin" from the admin API, whose answers
	// carry no receipt.
	RecordKind string
	// Head is the status line and header fields as received (HTTP/1.1 200 OK, CRLF
	// separated, ending in an empty line): what curl -i prints.
	Head []byte
	// Transfer is set on a streamed answer, whose receipt came as a trailer and was
	// checked with its digest against the body (transfer.go).
	Transfer *Transfer
}

// Do sends req and returns the response.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	p, err := c.Prepare(req)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	return c.Send(ctx, p)
}

// Prepared is a request built and signed ahead of sending — what a load generator uses so
// that its own SM2 signing does not limit what it measures. It is sent once: the gateway
// refuses a signature it has seen.
type Prepared struct {
	req  *fasthttp.Request
	u    *url.URL
	file *os.File // the body, streamed (Request.BodyFile): a prepared upload is sent once
	body *checkedBody
}

// Release returns the request's memory; the prepared request must not be used after.
func (p *Prepared) Release() {
	if p.file != nil {
		p.file.Close()
	}
	fasthttp.ReleaseRequest(p.req)
}

// Head is the request's request line and header fields as they will be sent, signature
// and Content-Length included (what curl -v shows).
func (p *Prepared) Head() []byte {
	var h fasthttp.RequestHeader
	p.req.Header.CopyTo(&h)
	if p.req.IsBodyStream() {
		// Body() would read the stream: the length was set with it.
	} else if n := len(p.req.Body()); n > 0 {
		h.SetContentLength(n)
	}
	return append([]byte(nil), h.Header()...)
}

// Prepare builds and, unless the client is unsigned, signs req.
func (c *Client) Prepare(req Request) (*Prepared, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", req.URL, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("call %s: scheme must be https (TLCP) or http", req.URL)
	}
	method := req.Method
	if method == "" {
		method = fasthttp.MethodGet
	}
	hreq := fasthttp.AcquireRequest()
	hreq.Header.SetMethod(method)
	hreq.SetRequestURI(u.RequestURI())
	hreq.Header.SetHost(u.Host)
	var file *os.File
	var body *checkedBody
	digest := ""
	if req.BodyFile != "" {
		if len(req.Body) > 0 {
			fasthttp.ReleaseRequest(hreq)
			return nil, fmt.Errorf("call %s: a request has Body or BodyFile, not both", req.URL)
		}
		var size int64
		var err error
		if file, size, digest, err = openUpload(req.BodyFile, !c.cfg.Unsigned); err != nil {
			fasthttp.ReleaseRequest(hreq)
			return nil, fmt.Errorf("call %s: %w", req.URL, err)
		}
		body = newCheckedBody(file, req.BodyFile, size, digest)
		hreq.SetBodyStream(body, int(size))
	} else {
		hreq.SetBody(req.Body)
		digest = crypto.ContentDigest(req.Body)
	}
	for k, v := range req.Header {
		hreq.Header.Set(k, v)
	}
	if req.Agreement != "" {
		hreq.Header.Set(wire.HeaderAgreement, req.Agreement)
	}
	if req.Purpose != "" {
		hreq.Header.Set(wire.HeaderPurpose, req.Purpose)
	}
	if !c.cfg.Unsigned {
		if err := c.sign(hreq, u, digest); err != nil {
			if file != nil {
				file.Close()
			}
			fasthttp.ReleaseRequest(hreq)
			return nil, err
		}
	}
	return &Prepared{req: hreq, u: u, file: file, body: body}, nil
}

// Send sends a prepared request and returns the response.
func (c *Client) Send(ctx context.Context, p *Prepared) (*Response, error) {
	hresp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(hresp)
	if err := c.host(p.u).DoDeadline(p.req, hresp, c.deadline(ctx)); err != nil {
		if p.body != nil && p.body.err != nil {
			return nil, fmt.Errorf("call %s: %w", p.u, p.body.err) // the file, not the connection
		}
		if c.answeredInTLS(p.u) {
			return nil, fmt.Errorf("call %s: %w", p.u, ErrTLSServer)
		}
		if brokenOff(err) {
			// The answer broke off (it is not sent again: retrySpentNothing).
			return nil, fmt.Errorf("call %s: %w: the answer broke off: %w", p.u, ErrTransferIncomplete, err)
		}
		return nil, fmt.Errorf("call %s: %w", p.u, err)
	}
	resp := headOf(hresp)
	resp.Body = append([]byte(nil), hresp.Body()...)
	resp.Size = int64(len(resp.Body))
	if streamedAnswer(&hresp.Header) {
		t, err := checkTransfer(&hresp.Header, resp.Body)
		if err != nil {
			return nil, fmt.Errorf("call %s: %w", p.u, err)
		}
		resp.Transfer, resp.Receipt = t, t.Receipt
	}
	return resp, nil
}

// sign signs hreq, whose body's Content-Digest value is digest.
func (c *Client) sign(hreq *fasthttp.Request, u *url.URL, digest string) error {
	// The declarations as the request carries them (from Agreement and Purpose, or set in
	// Header): SignRequest covers each one sent and no other (RFC 9421 §2.5).
	msg := wire.RequestMessage(string(hreq.Header.Method()), u.Host, u.RequestURI(), func(name string) []string {
		if !slices.Contains(wire.DeclarationComponents, name) {
			return nil
		}
		var out []string
		for _, v := range hreq.Header.PeekAll(name) {
			out = append(out, string(v))
		}
		return out
	})
	sh, err := crypto.SignRequestDigest(c.signer, c.keyID, msg, digest, time.Now())
	if err != nil {
		return err
	}
	hreq.Header.Set(wire.HeaderContentDigest, sh.ContentDigest)
	hreq.Header.Set(wire.HeaderSignatureInput, sh.SignatureInput)
	hreq.Header.Set(wire.HeaderSignature, sh.Signature)
	return nil
}

// host returns the keep-alive pool for u's host.
func (c *Client) host(u *url.URL) *fasthttp.HostClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := u.Scheme + "://" + u.Host
	if hc := c.hosts[key]; hc != nil {
		return hc
	}
	hc := &fasthttp.HostClient{Addr: u.Host, Name: "govgate-client", ReadTimeout: c.cfg.Timeout, WriteTimeout: c.cfg.Timeout,
		MaxConns: c.cfg.MaxConns, MaxConnWaitTimeout: c.cfg.Timeout, RetryIfErr: retrySpentNothing}
	if u.Scheme == "https" {
		serverName := c.cfg.ServerName
		if serverName == "" {
			serverName = u.Hostname()
		}
		hc.Dial = func(addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
			defer cancel()
			return tlcp.Dial(ctx, "tcp", addr, tlcp.ClientConfig{Identity: c.cfg.Identity, Trust: c.cfg.Trust, ServerName: serverName, Suites: c.cfg.Suites})
		}
	} else {
		seen := new(atomic.Bool)
		c.tlsSeen[key] = seen
		hc.Dial = func(addr string) (net.Conn, error) {
			conn, err := net.DialTimeout("tcp", addr, c.cfg.Timeout)
			if err != nil {
				return nil, err
			}
			return &sniffConn{Conn: conn, seen: seen}, nil
		}
	}
	c.hosts[key] = hc
	return hc
}

// answeredInTLS reports (and forgets) whether a plain host answered in TLCP/TLS.
func (c *Client) answeredInTLS(u *url.URL) bool {
	c.mu.Lock()
	seen := c.tlsSeen[u.Scheme+"://"+u.Host]
	c.mu.Unlock()
	return seen != nil && seen.Swap(false)
}

// Close drops idle connections.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, hc := range c.hosts {
		hc.CloseIdleConnections()
	}
}

// retrySpentNothing lets the keep-alive pool send a request again only when the server
// closed the connection before answering a byte (a keep-alive connection it had already
// closed as idle: it never read the request). fasthttp's default retries any GET whose
// answer failed — a timeout, a body cut halfway — but by then the gateway has read the
// request and spent its signature: the second attempt is refused as a replay, and the
// consumer would see "signature replayed" in place of what really happened.
func retrySpentNothing(_ *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	return false, errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed)
}

// brokenOff reports whether err is an answer that ended before it was whole: the
// connection closed within its head or body, or a chunk of it broken.
func brokenOff(err error) bool {
	var chunk fasthttp.ErrBrokenChunk
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &chunk)
}
