package main

import (
	"fmt"
	"os"
	"runtime"
)

// reserveLoadProc gives the load generator one scheduler P more than the CPU it is pinned
// to, as gateway.ReserveSyscallProc does for the server, unless GOMAXPROCS is set.
//
// Why: the TLCP rows' client does the client half of every handshake and record, on the
// one CPU it shares with whatever else runs on this machine. With a single P (one thread
// running Go code) it fell behind the open-loop rate when the machine was busy, and the
// latency it reported was its own queue: (f2) at 3,200 req/s, in alternating runs, p50
// 49–464 ms and 94–97 % of the rate sent with one P, p50 3.9–5.2 ms and the full rate with
// two (BENCHMARKS.md, issue 16's tail). (f1)'s plain-HTTP client was not affected, so
// the single P inflated exactly the difference the half-load target reads.
func reserveLoadProc() {
	if os.Getenv("GOVGATE_BENCH_PINNED") == "" || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
}

// behindBy is how far below the offered rate an open-loop run may complete before it is
// said to have fallen behind: the queue it builds is then part of every latency.
const behindBy = 0.98

// behind says, for the run's log line, whether an open-loop run fell behind its rate.
func (r row) behind() string {
	if r.offered == 0 || r.rps >= behindBy*r.offered {
		return ""
	}
	return fmt.Sprintf("  FELL BEHIND: %.0f of %.0f req/s offered (server or load generator saturated; the latencies include the queue)", r.rps, r.offered)
}
