//go:build !unix

package gateway

import "net"

// Without a portable non-blocking peek, a pooled connection is used as it is: a stale one
// fails its exchange as it did before this check existed.
func newIdleChecker(net.Conn) idleChecker { return nil }
