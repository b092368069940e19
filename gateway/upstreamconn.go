package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// errStaleConn is what writing to a pooled connection returns when the provider closed it
// (or reset it, or sent bytes nobody asked for) while it sat idle. It is returned before a
// single byte of the request is written, which is what makes a retry safe: the provider
// cannot have seen the request on this connection.
var errStaleConn = errors.New("pooled upstream connection closed by the provider while idle; nothing was written to it")

// upstreamConn is a connection to a provider as the pool's client uses it. It does two
// things fasthttp cannot do on its own:
//
//   - before the first write of a request on a connection that has served one before, it
//     looks, without blocking and without consuming anything, at what the provider left
//     on the connection while it was idle: a FIN, a reset or unsolicited bytes make it
//     unusable, and the write fails with errStaleConn having written nothing. It looks
//     however briefly the connection sat idle: bytes a provider writes after its answer
//     (a handler that writes twice) arrive microseconds later, and a connection taken back
//     before the look would read them as the next request's answer — another
//     department's, perhaps (TestPooledConnectionReusedSoonNeverDesynchronises);
//   - it marks every read and write error as the provider's (upstreamIOError), so that
//     the pool can tell a failure the provider caused from one of the request itself.
//
// io.EOF is passed through unwrapped: fasthttp and bufio compare it by identity.
type upstreamConn struct {
	net.Conn
	idle idleChecker // nil when the connection offers no file descriptor to look at
	// checkNext is set by every read and cleared by the next write, which starts a new
	// request on a connection that has served one and sat in the pool since. A fresh
	// connection is not checked: one the provider closes as soon as it is opened is the
	// provider failing, and its exchange fails and counts.
	checkNext bool
}

func newUpstreamConn(c net.Conn) *upstreamConn {
	return &upstreamConn{Conn: c, idle: newIdleChecker(c)}
}

func (c *upstreamConn) Write(b []byte) (int, error) {
	if c.checkNext {
		c.checkNext = false
		if c.idle != nil && !c.idle.usable() {
			return 0, errStaleConn
		}
	}
	n, err := c.Conn.Write(b)
	if err != nil {
		return n, &upstreamIOError{op: "write", err: err}
	}
	return n, nil
}

func (c *upstreamConn) Read(b []byte) (int, error) {
	c.checkNext = true
	n, err := c.Conn.Read(b)
	if err != nil && err != io.EOF {
		return n, &upstreamIOError{op: "read", err: err}
	}
	return n, err
}

// upstreamIOError is a read or write on a provider connection that failed: a reset, a
// broken pipe, a deadline. It keeps Timeout() visible to fasthttp, which turns timeouts
// into ErrTimeout by a type assertion.
type upstreamIOError struct {
	op  string
	err error
}

func (e *upstreamIOError) Error() string { return "upstream " + e.op + ": " + e.err.Error() }
func (e *upstreamIOError) Unwrap() error { return e.err }
func (e *upstreamIOError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// upstreamDialError is a connection to a provider that could not be opened: refused,
// unreachable, or not within the connect timeout.
type upstreamDialError struct {
	addr string
	err  error
}

func (e *upstreamDialError) Error() string { return fmt.Sprintf("dial %s: %v", e.addr, e.err) }
func (e *upstreamDialError) Unwrap() error { return e.err }

// dialer opens provider connections within the pool's connect timeout, wrapped so that the
// pool can see stale connections and tell the provider's failures apart.
func dialer(timeout time.Duration) fasthttp.DialFuncWithTimeout {
	return func(addr string, t time.Duration) (net.Conn, error) {
		if timeout < t {
			t = timeout
		}
		c, err := fasthttp.DialTimeout(addr, t)
		if err != nil {
			return nil, &upstreamDialError{addr: addr, err: err}
		}
		return newUpstreamConn(c), nil
	}
}

// idleChecker looks at an idle connection without blocking or consuming.
type idleChecker interface {
	usable() bool
}

// rawConner is what a *net.TCPConn offers to reach its file descriptor.
type rawConner interface {
	SyscallConn() (syscall.RawConn, error)
}
