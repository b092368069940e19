package record

import (
	"net"
	"net/netip"
	"strconv"
)

// appendClientAddr appends addr as addr.String() writes it — the record's client, a
// contract — without String's allocations (net.IP.String, JoinHostPort: two or three per
// exchange). A TCP address with a zone, or of an IP length net.IP.String prints
// otherwise, and any other kind of address, take String itself.
func appendClientAddr(dst []byte, addr net.Addr) []byte {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp == nil || tcp.Zone != "" {
		return appendAddrString(dst, addr)
	}
	switch ip := tcp.IP; {
	case len(ip) == 0:
		// net.TCPAddr.String's host for no IP is empty: ":port".
	case ip.To4() != nil:
		dst = netip.AddrFrom4([4]byte(ip.To4())).AppendTo(dst)
	case len(ip) == net.IPv6len:
		dst = append(dst, '[')
		dst = netip.AddrFrom16([16]byte(ip)).AppendTo(dst)
		dst = append(dst, ']')
	default:
		return appendAddrString(dst, addr)
	}
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(tcp.Port), 10)
}

func appendAddrString(dst []byte, addr net.Addr) []byte {
	if addr == nil {
		return dst
	}
	return append(dst, addr.String()...)
}
