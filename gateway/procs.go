package gateway

import (
	"os"
	goruntime "runtime"
)

// ReserveSyscallProc gives the Go scheduler one P more than it would take by default,
// unless GOMAXPROCS is set in the environment, and returns the number it set.
//
// Why: the audit writer's fsync and the key and certificate file reads are blocking
// system calls, and a goroutine in one keeps its P until the runtime's monitor takes it
// back, 20 µs to 10 ms later (golang/go#29734). With exactly as many Ps as cores, a
// gateway confined to one core stops serving for the length of every fsync: in
// loadtest/bench, pinned to one core, the TLCP + audit row went from 2.2k to 3.2k req/s
// and its p99 from 55 ms to 23 ms with the extra P. The extra P costs little when no
// syscall blocks: the OS shares the cores between the threads.
//
// It adds to the process's current setting, so a process calls it once, from main.
// Setting GOMAXPROCS also stops the runtime from following later changes of the
// container's CPU limit; a deployment that needs that sets GOMAXPROCS itself.
func ReserveSyscallProc() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return goruntime.GOMAXPROCS(0)
	}
	n := goruntime.GOMAXPROCS(0) + 1
	goruntime.GOMAXPROCS(n)
	return n
}
