package redistest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server. Its data survives Restart (append-only file in its dir), as
// a production Redis configured as docs/architecture.md asks does.
type Server struct {
	Addr string // 127.0.0.1:port
	// Password is what requirepass was set to ("" for none).
	Password string

	t    testing.TB
	tls  *TLSFiles
	dir  string
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Option changes the server's configuration.
type Option func(*serverConf)

type serverConf struct {
	password string
	extra    []string
	tls      *TLSFiles
}

// TLSFiles are the PEM files of a server that speaks only TLS and requires a client
// certificate issued by CA.
type TLSFiles struct {
	CA, Cert, Key         string // the server's
	ClientCert, ClientKey string // a client's, for the helper's own redis-cli
}

// WithTLS makes the server speak only TLS on its port.
func WithTLS(f TLSFiles) Option { return func(c *serverConf) { c.tls = &f } }

// WithPassword sets requirepass (the default user's password).
func WithPassword(pw string) Option { return func(c *serverConf) { c.password = pw } }

// WithConfig adds redis.conf lines.
func WithConfig(lines ...string) Option {
	return func(c *serverConf) { c.extra = append(c.extra, lines...) }
}

// Start starts redis-server for t on a free loopback port and stops it when t ends.
// Without redis-server on PATH the test is skipped, loudly; .ci/run installs it.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	var c serverConf
	for _, o := range opts {
		o(&c)
	}
	s := &Server{Addr: FreeAddr(t), Password: c.password, t: t, dir: t.TempDir()}
	_, port, _ := net.SplitHostPort(s.Addr)
	conf := []string{
		"bind 127.0.0.1", "port " + port, "dir " + s.dir, "save \"\"",
		"appendonly yes", "appendfsync always", "protected-mode yes",
		"maxmemory-policy noeviction", "loglevel warning", "logfile " + filepath.Join(s.dir, "redis.log"),
	}
	if c.password != "" {
		conf = append(conf, "requirepass "+c.password)
	}
	if c.tls != nil {
		s.tls = c.tls
		conf[1] = "port 0"
		conf = append(conf, "tls-port "+port, "tls-cert-file "+c.tls.Cert, "tls-key-file "+c.tls.Key,
			"tls-ca-cert-file "+c.tls.CA, "tls-auth-clients yes")
	}
	conf = append(conf, c.extra...)
	s.conf = filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(s.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("GOVGATE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("GOVGATE_REQUIRE_SERVICES=1 and no %s on PATH: apt-get install redis-server redis-sentinel", name)
		}
		t.Skipf("SKIPPED LOUDLY: no %s on PATH. apt-get install redis-server redis-sentinel (.ci/run does this); GOVGATE_REQUIRE_SERVICES=1 makes this a failure", name)
	}
	return bin
}

func (s *Server) start(bin string) {
	s.t.Helper()
	cmd := exec.Command(bin, s.conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := waitPing(s.cliArgs(), done); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		s.t.Fatalf("redis-server on %s: %v\n%s%s", s.Addr, err, out.String(), log)
	}
}

// Stop kills the server (SIGKILL: what a crash or a partition looks like to a client).
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port with the same data, after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start(lookPath(s.t, "redis-server"))
}

// Do runs one command through redis-cli and returns its raw output, trimmed.
func (s *Server) Do(args ...string) (string, error) {
	return run(append(s.cliArgs(), args...))
}

// cliArgs are redis-cli's arguments to reach s.
func (s *Server) cliArgs() []string {
	args := connArgs(s.Addr, s.Password)
	if s.tls != nil {
		args = append(args, "--tls", "--cacert", s.tls.CA, "--cert", s.tls.ClientCert, "--key", s.tls.ClientKey)
	}
	return args
}

// MustDo is Do that fails the test on an error.
func (s *Server) MustDo(args ...string) string {
	s.t.Helper()
	out, err := s.Do(args...)
	if err != nil {
		s.t.Fatalf("redis-cli %v: %v", args, err)
	}
	return out
}

func cli(addr, password string, args ...string) (string, error) {
	return run(append(connArgs(addr, password), args...))
}

func connArgs(addr, password string) []string {
	host, port, _ := net.SplitHostPort(addr)
	full := []string{"-h", host, "-p", port, "--no-raw"}
	if password != "" {
		full = append(full, "--no-auth-warning", "-a", password)
	}
	return full
}

func run(args []string) (string, error) {
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("redis-cli %s:%s: %w: %s", args[1], args[3], err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// waitPing waits until the server redis-cli reaches with args answers PING, or the
// process ends.
func waitPing(args []string, done <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if out, err := run(append(args, "PING")); err == nil && strings.Contains(out, "PONG") {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("exited before answering PING")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG in 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreeAddr is a loopback address nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Port is the port of addr.
func Port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// MustInt runs a command whose answer is an integer, or a string holding one (PTTL,
// EXISTS, GET of a counter), and returns it.
func (s *Server) MustInt(args ...string) int64 {
	s.t.Helper()
	out := s.MustDo(args...)
	n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(strings.TrimPrefix(out, "(integer)")), `"`), 10, 64)
	if err != nil {
		s.t.Fatalf("redis-cli %v: %q is not an integer", args, out)
	}
	return n
}
