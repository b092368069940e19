package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/trace"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// syscallCounter is `strace -c -f` attached to a server for the measured run only.
type syscallCounter struct {
	cmd  *exec.Cmd
	path string
}

// countSyscalls attaches strace to each process for the measured run; nil when -strace
// is not set. strace slows the server it traces: the counts per exchange are what
// matter, not the run's throughput.
func (b *bench) countSyscalls(sc scenario, procs []*proc) []*syscallCounter {
	if b.strace == "" {
		return nil
	}
	var out []*syscallCounter
	for i, p := range procs {
		path := fmt.Sprintf("%s.%s.%d", b.strace, rowLabel(sc.name), i)
		cmd := exec.Command("strace", "-c", "-f", "-o", path, "-p", strconv.Itoa(p.cmd.Process.Pid))
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: strace: %v\n", sc.name, err)
			continue
		}
		out = append(out, &syscallCounter{cmd: cmd, path: path})
	}
	time.Sleep(300 * time.Millisecond) // attached to every thread before the run starts
	return out
}

// rowLabel is "e4" of "(e4) govgate: …".
func rowLabel(name string) string {
	if i := strings.IndexByte(name, ')'); strings.HasPrefix(name, "(") && i > 0 {
		return name[1:i]
	}
	return strings.ReplaceAll(name, " ", "_")
}

// finish detaches strace and writes, beside its summary, the calls per exchange.
func (c *syscallCounter) finish(exchanges int64) {
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Wait()
	f, err := os.Open(c.path)
	if err != nil {
		return
	}
	defer f.Close()
	type count struct {
		name  string
		calls float64
	}
	var counts []count
	var total float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// % time, seconds, usecs/call, calls, [errors,] syscall
		if len(fs) < 5 || strings.HasPrefix(fs[0], "%") || strings.HasPrefix(fs[0], "-") || fs[len(fs)-1] == "total" {
			continue
		}
		calls, err := strconv.ParseFloat(fs[3], 64)
		if err != nil {
			continue
		}
		counts = append(counts, count{fs[len(fs)-1], calls})
		total += calls
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i].calls > counts[j].calls })
	var s strings.Builder
	fmt.Fprintf(&s, "%d exchanges measured; system calls per exchange (strace -c -f over the measured run)\n", exchanges)
	for _, c := range counts {
		fmt.Fprintf(&s, "%-20s %8.2f\n", c.name, c.calls/float64(exchanges))
	}
	fmt.Fprintf(&s, "%-20s %8.2f\n", "total", total/float64(exchanges))
	os.WriteFile(c.path+".per-exchange", []byte(s.String()), 0o644)
}

// traceOnSignal writes a runtime trace (go tool trace) to path from the first SIGUSR2 the
// server receives — the bench sends it as the measured run starts — until stop is called.
func traceOnSignal(path string) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR2)
	started := make(chan *os.File, 1)
	go func() {
		<-sig
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "trace:", err)
			started <- nil
			return
		}
		if err := trace.Start(f); err != nil {
			fmt.Fprintln(os.Stderr, "trace:", err)
			f.Close()
			f = nil
		}
		started <- f
	}()
	return func() {
		signal.Stop(sig)
		select {
		case f := <-started:
			if f != nil {
				trace.Stop()
				f.Close()
			}
		default:
		}
	}
}
