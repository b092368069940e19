package record

import (
	"math/rand/v2"
	"net"
	"testing"
)

// TestClientAddrIsString: the record's client is byte for byte what addr.String() writes
// (a contract of every record): IPv4, IPv4-mapped IPv6, IPv6 with and without a zone, no
// IP, an IP of a length no address has, odd ports, another kind of address — and random
// IPs of every length. A formatter that printed a mapped address as ::ffff:a.b.c.d, left
// out IPv6's brackets or dropped a zone fails.
func TestClientAddrIsString(t *testing.T) {
	addrs := []net.Addr{
		&net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 40001},
		&net.TCPAddr{IP: net.IP{192, 0, 2, 1}, Port: 0},
		&net.TCPAddr{IP: net.ParseIP("::ffff:1.2.3.4"), Port: 65535},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},
		&net.TCPAddr{IP: net.ParseIP("::"), Port: 1},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 8443, Zone: "eth0"},
		&net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 80, Zone: "eth0"},
		&net.TCPAddr{Port: 9},
		&net.TCPAddr{IP: net.IP{1, 2, 3}, Port: 9},
		&net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: -1},
		(*net.TCPAddr)(nil),
		&net.UnixAddr{Name: "/run/govgate.sock", Net: "unix"},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		ip := make(net.IP, []int{4, 16, 16, 0, 5}[rng.IntN(5)])
		for i := range ip {
			ip[i] = byte(rng.IntN(256))
		}
		if len(ip) == 16 && rng.IntN(2) == 0 {
			copy(ip, net.IPv4(0, 0, 0, 0)[:12]) // mapped
		}
		addrs = append(addrs, &net.TCPAddr{IP: ip, Port: rng.IntN(70000)})
	}
	room := []byte("room")
	for _, a := range addrs {
		if got, want := string(appendClientAddr(room[:0], a)), a.String(); got != want {
			t.Fatalf("%#v: %q, String says %q", a, got, want)
		}
	}
	if got := appendClientAddr([]byte("kept "), addrs[0]); string(got) != "kept 10.0.0.7:40001" {
		t.Fatalf("appended %q", got)
	}
}
