package client

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// ErrTLSServer is an http:// call answered by a server speaking TLCP or TLS: its first
// bytes are a record header (an alert or a handshake), not an HTTP status line.
var ErrTLSServer = errors.New("the server speaks TLCP/TLS; use https://")

// sniffConn is a plain connection that checks the first bytes the server sends: an
// HTTP parser would report a TLCP alert as a status line without whitespace.
// The HTTP client turns a read error into its own, so the finding is kept in seen, which
// Send reads when the call fails.
type sniffConn struct {
	net.Conn
	once sync.Once
	seen *atomic.Bool
}

func (c *sniffConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.once.Do(func() {
		if n >= 2 && isRecordHeader(b[0], b[1]) {
			c.seen.Store(true)
		}
	})
	return n, err
}

// isRecordHeader: content type change_cipher_spec, alert, handshake or application data
// (20–23), then a major version of TLCP (1) or TLS (3). "HTTP/" starts with 'H' (72).
func isRecordHeader(contentType, major byte) bool {
	return contentType >= 20 && contentType <= 23 && (major == 1 || major == 3)
}
