package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/crypto/tlcp"
	"github.com/govgate/govgate/loadtest"
)

// proc is a server process under test.
type proc struct {
	cmd *exec.Cmd
	// commits is where a govgate role with an audit log writes its commit times as it
	// stops; empty for other processes.
	commits string
	// allocs is where a Go server role (govgate, the bare proxy) writes its heap
	// allocation over the measured run as it stops; empty for other processes.
	allocs string
	opa    bool // the stock OPA server of rows (d) and (d2), whose CPU the report splits out
}

// bench holds what all scenarios share: the upstream, the PKI, a work directory.
type bench struct {
	dir      string
	upstream string
	up       *proc
	ca       *certs.Dir
	dept     *tlcp.Identity
	trust    *tlcp.TrustSource
	profile  string     // -cpuprofile, passed to the govgate servers
	trace    string     // -trace, passed to the govgate servers
	strace   string     // -strace: count the servers' system calls in the measured run
	suite    tlcp.Suite // -tlcp-suite: the one the TLCP rows' client offers
	// serverProcs is -server-gomaxprocs: GOMAXPROCS in the servers' environment, if set,
	// to compare the extra P of gateway.ReserveSyscallProc with none (issue 16).
	serverProcs int
	opaBin      string   // the stock OPA server, built at the first row that runs it
	opaPaths    []string // the policy it loads
	tls         *tlsPair // the nginx TLS row's pair, made at the first row that runs it
}

func newBench() (*bench, error) {
	dir, err := os.MkdirTemp("", "govgate-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, upstream: freeAddr()}
	if b.up, err = b.start("upstream", b.upstream, "", ""); err != nil {
		return nil, err
	}
	if err := b.pki(); err != nil {
		return nil, err
	}
	return b, nil
}

// pki makes the CA, the gateway's pair (files the govgate role reads) and a department's.
func (b *bench) pki() error {
	ca, err := certs.InitDir(filepath.Join(b.dir, "ca"), "bench root", "govgate", 24*time.Hour, nil, nil)
	if err != nil {
		return err
	}
	b.ca = ca
	gw, err := ca.Issue(certs.PairRequest{System: "gw-bench", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		return err
	}
	for name, pair := range map[string]*certs.Pair{"gw": gw} {
		for _, f := range []struct {
			suffix string
			cert   *smx509.Certificate
			key    *crypto.PrivateKey
		}{{"sign", pair.SignCert, pair.SignKey}, {"enc", pair.EncCert, pair.EncKey}} {
			if err := os.WriteFile(filepath.Join(b.dir, name+"-"+f.suffix+".pem"), crypto.MarshalCertificatePEM(f.cert), 0o644); err != nil {
				return err
			}
			k, _ := crypto.MarshalPrivateKeyPEM(f.key, nil)
			if err := os.WriteFile(filepath.Join(b.dir, name+"-"+f.suffix+".key"), k, 0o600); err != nil {
				return err
			}
		}
	}
	dept, err := ca.Issue(certs.PairRequest{Dept: "110000-shuiwu", System: "bench-client"})
	if err != nil {
		return err
	}
	b.dept = &tlcp.Identity{SignCert: dept.SignCert, SignKey: dept.SignKey, EncCert: dept.EncCert, EncKey: dept.EncKey}
	ts, err := tlcp.NewTrustStore([]*smx509.Certificate{ca.CA.Cert}, nil)
	if err != nil {
		return err
	}
	b.trust = &tlcp.TrustSource{}
	b.trust.Store(ts)
	return nil
}

// start runs this program in a server role, pinned to CPU 0.
func (b *bench) start(role, addr, upstream, stages string) (*proc, error) {
	args := []string{os.Args[0], "-role", role, "-addr", addr, "-upstream", upstream, "-stages", stages, "-dir", b.dir}
	if b.profile != "" && role == "govgate" {
		args = append(args, "-cpuprofile", b.profile+"."+strings.ReplaceAll(stages, ",", "-"))
	}
	if b.trace != "" && role == "govgate" {
		args = append(args, "-trace", b.trace+"."+strings.ReplaceAll(stages, ",", "-"))
	}
	return b.run(args, addr)
}

func (b *bench) run(args []string, addr string) (*proc, error) {
	if haveTaskset() {
		args = append([]string{"taskset", "-c", "0"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	cmd.Env = b.serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitListening(addr); err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	return &proc{cmd: cmd}, nil
}

// serverEnv is a server process's environment: the bench's own (nil: inherited), with
// GOMAXPROCS set when -server-gomaxprocs asks for it. Only the servers get it: the load
// generator keeps the P that loadprocs.go gives it.
func (b *bench) serverEnv() []string {
	if b.serverProcs <= 0 {
		return nil
	}
	return append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", b.serverProcs))
}

func (p *proc) stop() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func (b *bench) close() {
	b.up.stop()
	os.RemoveAll(b.dir)
}

// self starts a server role of this program in front of the upstream.
func (b *bench) self(role, stages string) ([]*proc, string, error) {
	addr := freeAddr()
	p, err := b.start(role, addr, b.upstream, stages)
	if err != nil {
		return nil, "", err
	}
	if role == "govgate" && strings.Contains(stages, "audit") {
		p.commits = commitsFile(b.dir, addr)
	}
	p.allocs = allocsFile(b.dir, addr)
	scheme := "http"
	if strings.Contains(stages, "tlcp") {
		scheme = "https"
		addr = "localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	}
	return []*proc{p}, scheme + "://" + addr + "/enterprise/v1/companies?uscc=91110108MA01A2B3C4", nil
}

// measure runs one scenario once.
func (b *bench) measure(sc scenario, duration time.Duration, ld load) (row, error) {
	procs, url, err := sc.servers(b)
	if err != nil {
		return row{}, err
	}
	stop := sync.OnceFunc(func() {
		for _, p := range procs {
			p.stop()
		}
	})
	defer stop()
	target, closeClient, err := b.target(sc, url, duration, ld.conns)
	if err != nil {
		return row{}, err
	}
	closeTarget := sync.OnceFunc(closeClient)
	defer closeTarget()
	if ld.ramp {
		// Opened all at once, thousands of TLCP handshakes would share the server's core
		// and each would run past its deadline; a hundred at a time, each completes.
		for n := 100; n < ld.conns; n += 100 {
			if _, err := loadtest.Run(context.Background(), target, loadtest.Options{Conns: n, Duration: 500 * time.Millisecond}); err != nil {
				return row{}, err
			}
		}
	}
	// A short warm-up: connections, handshakes, caches.
	if _, err := loadtest.Run(context.Background(), target, loadtest.Options{Conns: ld.conns, Duration: time.Second}); err != nil {
		return row{}, err
	}
	if ld.ramp {
		// After the ramp's burst, the measured load for as long again as the measurement,
		// so that what the burst left (upstream connections, heap the runtime has not yet
		// returned) settles before the peak is taken.
		if _, err := loadtest.Run(context.Background(), target, loadtest.Options{Conns: ld.conns, Rate: ld.rate, Duration: duration}); err != nil {
			return row{}, err
		}
	}
	disk, err := b.diskBeside(procs, ld)
	if err != nil {
		return row{}, err
	}
	opening := rssOf(procs)
	resetPeakRSS(procs)
	for _, p := range procs {
		if p.commits != "" {
			p.cmd.Process.Signal(syscall.SIGUSR1) // count the measured run's commits only
		}
	}
	for _, p := range procs {
		if p.allocs != "" {
			// Count allocation from here; a govgate server started with -trace begins its trace.
			p.cmd.Process.Signal(syscall.SIGUSR2)
		}
	}
	counters := b.countSyscalls(sc, procs)
	before, opaBefore := cpuOf(procs), cpuOf(opaOf(procs))
	ioBefore := ioOf(procs)
	r, err := loadtest.Run(context.Background(), target, loadtest.Options{Conns: ld.conns, Rate: ld.rate, Duration: duration})
	if err != nil {
		return row{}, err
	}
	for _, c := range counters {
		c.finish(r.Requests)
	}
	used, opaUsed := cpuOf(procs)-before, cpuOf(opaOf(procs))-opaBefore
	io := ioOf(procs).minus(ioBefore)
	var errs int64
	for _, n := range r.Errors {
		errs += n
	}
	out := row{name: sc.name, offered: ld.rate, rps: r.Throughput, p50: float64(r.Latency.P50), p99: float64(r.Latency.P99),
		p999: float64(r.Latency.P999), errors: errs, rssMB: rssOf(procs), openingRSSMB: opening, disk: disk}
	if r.Requests > 0 {
		out.cpuPer1k = used / float64(r.Requests) * 1000
		out.opaCPUPer1k = opaUsed / float64(r.Requests) * 1000
		out.io = io.per(float64(r.Requests))
	}
	// The role writes its commit times as it stops.
	closeTarget()
	stop()
	for _, p := range procs {
		if p.allocs != "" && r.Requests > 0 {
			if bytes, objects, err := readAllocs(p.allocs); err == nil {
				out.allocBytes, out.allocObjects = bytes/float64(r.Requests), objects/float64(r.Requests)
			}
			os.Remove(p.allocs)
		}
		if p.commits != "" {
			if out.commits, err = readCommitStats(p.commits); err != nil {
				log.Printf("%s: no audit commit times: %v", sc.name, err) // the row stands without them
			}
			os.Remove(p.commits)
		}
	}
	return out, nil
}

// target is the client side of a scenario, for conns connections.
func (b *bench) target(sc scenario, url string, duration time.Duration, conns int) (loadtest.Target, func(), error) {
	// The tax bureau's agreement AGR-2025-0219 has no quota: a quota running out mid-run
	// would turn the measurement into one of 429s.
	req := loadtest.Request{Method: "GET", URL: url, Agreement: "AGR-2025-0219", Purpose: "tax-registration",
		Header: map[string]string{benchDeptHeader: "110000-shuiwu"}}
	if !sc.tlcp {
		var tc *tls.Config
		if b.tls != nil && strings.HasPrefix(url, "https:") {
			tc = b.tls.client
		}
		t, err := loadtest.NewHTTPTarget(req, tc, conns, 10*time.Second)
		return t, func() {}, err
	}
	c, err := client.New(client.Config{Identity: b.dept, Trust: b.trust, ServerName: "localhost", Unsigned: !sc.sign,
		Timeout: 10 * time.Second, MaxConns: conns, Suites: []tlcp.Suite{b.suite}})
	if err != nil {
		return nil, nil, err
	}
	t := loadtest.NewTLCPTarget(c, req)
	if sc.sign {
		// Enough for the run at the unsigned rate; the rest are signed as they go.
		if err := t.PreSign(int(duration.Seconds()) * 4000); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return t, c.Close, nil
}

// cpuOf is the user+system CPU seconds of the processes and their children (nginx workers).
func cpuOf(procs []*proc) float64 {
	var total float64
	for _, p := range procs {
		for _, pid := range family(p.cmd.Process.Pid) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			total += (ut + st) / 100 // clock ticks (USER_HZ = 100 on Linux)
		}
	}
	return total
}

// ioCounts are a process's read and write system calls and the bytes they moved
// (/proc/PID/io: syscr, syscw, rchar, wchar) — sockets and files alike, so the bytes are
// those copied between the process and the kernel.
type ioCounts struct{ reads, writes, readBytes, writeBytes float64 }

func (a ioCounts) minus(b ioCounts) ioCounts {
	return ioCounts{a.reads - b.reads, a.writes - b.writes, a.readBytes - b.readBytes, a.writeBytes - b.writeBytes}
}

func (a ioCounts) per(n float64) ioCounts {
	if n == 0 {
		return ioCounts{}
	}
	return ioCounts{a.reads / n, a.writes / n, a.readBytes / n, a.writeBytes / n}
}

// ioOf sums the processes' and their children's ioCounts.
func ioOf(procs []*proc) ioCounts {
	var c ioCounts
	for _, p := range procs {
		for _, pid := range family(p.cmd.Process.Pid) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				switch k {
				case "syscr":
					c.reads += n
				case "syscw":
					c.writes += n
				case "rchar":
					c.readBytes += n
				case "wchar":
					c.writeBytes += n
				}
			}
		}
	}
	return c
}

// rssOf is the summed peak resident memory of the processes and their children, in MB.
func rssOf(procs []*proc) float64 {
	var kb float64
	for _, p := range procs {
		for _, pid := range family(p.cmd.Process.Pid) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					n, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
					kb += n
				}
			}
		}
	}
	return kb / 1024
}

// resetPeakRSS starts the processes' peak resident memory again from their current
// resident memory (Linux clear_refs), so that the peak is the measured run's, not the
// ramp's or the warm-up's.
func resetPeakRSS(procs []*proc) {
	for _, p := range procs {
		for _, pid := range family(p.cmd.Process.Pid) {
			os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
		}
	}
}

// family is pid and its descendants (taskset execs into the server; nginx forks workers).
func family(pid int) []int {
	out := []int{pid}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return out
	}
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, family(c)...)
		}
	}
	return out
}
