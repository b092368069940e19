package tlcp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTLCPHandshake is full mutual-auth handshakes against the hardened listener,
// client and server in one process, per suite: halve the handshakes/s for server-only
// cost per core. cpu-µs/op is the process's CPU (both ends) per handshake; perSuite logs
// (with -v) the ratios to ECC_SM4_CBC_SM3.
func BenchmarkTLCPHandshake(b *testing.B) {
	p := newTestPKI(b)
	addr, _, _ := startServerSuites(b, p, nil)
	ctx := context.Background()
	perSuite(b, func(b *testing.B, s Suite) {
		for range b.N {
			c, err := Dial(ctx, "tcp", addr, ClientConfig{Identity: p.client, Trust: p.trust, ServerName: "localhost", Logger: quietLogger(), Suites: []Suite{s}})
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

// BenchmarkTLCPKeepAliveRequest is requests on one kept-alive TLCP connection per suite:
// a GET with a short answer (the gateway's typical exchange), and a 16 KiB body echoed
// (one full record each way), where the record layer dominates.
func BenchmarkTLCPKeepAliveRequest(b *testing.B) {
	p := newTestPKI(b)
	addr, _, _ := startServerSuites(b, p, nil)
	for _, size := range []int{0, 16 << 10} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			perSuite(b, func(b *testing.B, s Suite) {
				c, err := Dial(context.Background(), "tcp", addr, ClientConfig{Identity: p.client, Trust: p.trust, ServerName: "localhost", Logger: quietLogger(), Suites: []Suite{s}})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if size == 0 {
					benchKeepAlive(b, c)
				} else {
					benchEcho(b, c, size)
				}
			})
		})
	}
}

// suiteRounds is how many times perSuite measures each suite, round-robin, so that load
// from elsewhere on a shared machine lands on every suite rather than on one.
const suiteRounds = 3

// perSuite runs f as a sub-benchmark per suite, suiteRounds rounds of all four in turn,
// reporting ops/s and the process's CPU per op, then logs (with -v) each suite against
// ECC_SM4_CBC_SM3 of the same round, and the median of the rounds' ratios.
func perSuite(b *testing.B, f func(b *testing.B, s Suite)) {
	type result struct{ perSec, cpuMicros float64 }
	rounds := make([]map[Suite]result, suiteRounds)
	for i := range rounds {
		rounds[i] = map[Suite]result{}
		for _, s := range allSuites {
			b.Run(s.String(), func(b *testing.B) {
				cpu0 := processCPU()
				start := time.Now()
				f(b, s)
				elapsed, cpu := time.Since(start), processCPU()-cpu0
				r := result{perSec: float64(b.N) / elapsed.Seconds(), cpuMicros: float64(cpu.Microseconds()) / float64(b.N)}
				b.ReportMetric(r.perSec, "ops/s")
				b.ReportMetric(r.cpuMicros, "cpu-µs/op")
				rounds[i][s] = r // the last, longest run of this suite in this round
			})
		}
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	var out strings.Builder
	for _, s := range allSuites {
		var rate, cpu, perSec, cpuMicros []float64
		for _, r := range rounds {
			base, got := r[ECC_SM4_CBC_SM3], r[s]
			if base.perSec == 0 || base.cpuMicros == 0 {
				return
			}
			rate, cpu = append(rate, got.perSec/base.perSec), append(cpu, got.cpuMicros/base.cpuMicros)
			perSec, cpuMicros = append(perSec, got.perSec), append(cpuMicros, got.cpuMicros)
		}
		fmt.Fprintf(&out, "\n%-18s %9.0f ops/s, %8.1f cpu-µs/op; against ECC_SM4_CBC_SM3 in the same round (median of %d): %.2f× ops/s, %.2f× CPU", s, median(perSec), median(cpuMicros), suiteRounds, median(rate), median(cpu))
	}
	b.Log(out.String())
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEcho times b.N requests with a body of size bytes, echoed back, on c.
func benchEcho(b *testing.B, c net.Conn, size int) {
	r := bufio.NewReader(c)
	body := bytes.Repeat([]byte{'x'}, size)
	req := append([]byte(fmt.Sprintf("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n", size)), body...)
	b.SetBytes(int64(2 * size))
	b.ResetTimer()
	for range b.N {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(size) {
			b.Fatalf("echoed %d bytes, want %d", n, size)
		}
	}
}

// benchKeepAlive times b.N HTTP/1.1 requests in turn on the one connection c.
func benchKeepAlive(b *testing.B, c net.Conn) {
	r := bufio.NewReader(c)
	b.ResetTimer()
	for range b.N {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// FuzzListener throws bytes at a running TLCP listener: no input may take the server down,
// and a good client is served after every one.
func FuzzListener(f *testing.F) {
	p := newTestPKI(f)
	addr, _, _ := startServer(f, p)
	f.Add(clientHello(0x0101, []uint16{0xe011}, nil, nil))
	f.Add(clientHello(0x0101, []uint16{0xe051}, nil, nil))
	f.Add(clientHello(0x0101, []uint16{0xe053, 0xe013}, nil, nil))
	f.Add(clientHello(0x0101, []uint16{0xe013}, randomBytes(32), ticketExtension()))
	f.Add(clientHello(0x0301, []uint16{0x002f}, nil, nil))
	f.Add([]byte{0x16, 0x01, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		sendRawQuick(t, addr, raw)
		if _, err := get(t, addr, p.client, p.trust); err != nil {
			t.Fatalf("after %x the server does not serve: %v", raw, err)
		}
	})
}
