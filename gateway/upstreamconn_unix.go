//go:build unix

package gateway

import (
	"net"
	"syscall"
)

// peekChecker asks the kernel, with recv(MSG_PEEK|MSG_DONTWAIT), what is waiting on the
// socket: EAGAIN means nothing — the connection is idle and open; 0 bytes means the
// provider's FIN; bytes mean the provider wrote something nobody asked for (a late second
// response, a 408), which would otherwise be read as the answer to the next request;
// any other error (ECONNRESET) means the connection is gone. One system call, no
// allocation: the callback is bound once per connection.
type peekChecker struct {
	rc   syscall.RawConn
	peek func(fd uintptr)
	buf  [1]byte
	ok   bool
}

func newIdleChecker(c net.Conn) idleChecker {
	rcr, ok := c.(rawConner)
	if !ok {
		return nil
	}
	rc, err := rcr.SyscallConn()
	if err != nil {
		return nil
	}
	p := &peekChecker{rc: rc}
	p.peek = p.peekFD
	return p
}

func (p *peekChecker) peekFD(fd uintptr) {
	// Only "nothing to read yet" is usable: 0 bytes without an error (the FIN), a byte
	// (unsolicited) and any other error (a reset) are not.
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}

func (p *peekChecker) usable() bool {
	p.ok = false
	if err := p.rc.Control(p.peek); err != nil {
		return false
	}
	return p.ok
}
