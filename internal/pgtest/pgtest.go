package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one running PostgreSQL, or the reason it is not running.
type Server struct {
	// URL is the connection URL of the server's postgres database, as its superuser.
	URL  string
	port int
	dir  string
	cmd  *exec.Cmd
	// launch makes the postgres command (its settings), for start and Restart.
	launch func() *exec.Cmd
	err    error
	dbs    atomic.Int64
}

// Options tune the server.
type Options struct {
	// Durable keeps fsync and synchronous commit on, as in production: for benchmarks.
	// Tests run without them (a crash of the test machine loses only test data).
	Durable bool
	// Settings are more server settings, "name=value" each (postgres -c), after the
	// ones above: what a benchmark compares.
	Settings []string
}

// Start starts a server and returns it with the function that stops it and removes its
// files. When it cannot start, the Server says why (Err) and Database skips — or, with
// GOVGATE_REQUIRE_SERVICES=1, Start's caller should fail: see Main.
func Start(ctx context.Context, opts Options) (*Server, func()) {
	s := &Server{}
	if err := s.start(ctx, opts); err != nil {
		s.err = err
		s.stop()
		return s, func() {}
	}
	return s, s.stop
}

// Main is a TestMain body: it starts the server, runs the tests and stops it. With
// GOVGATE_REQUIRE_SERVICES=1 a server that does not start fails the package.
func Main(m *testing.M, opts Options, set func(*Server)) int {
	s, stop := Start(context.Background(), opts)
	defer stop()
	if s.err != nil && os.Getenv("GOVGATE_REQUIRE_SERVICES") == "1" {
		fmt.Fprintf(os.Stderr, "pgtest: GOVGATE_REQUIRE_SERVICES=1 and PostgreSQL did not start: %v\n", s.err)
		return 1
	}
	set(s)
	return m.Run()
}

// Err is why the server is not running, or nil.
func (s *Server) Err() error { return s.err }

// Database creates a fresh, empty database for t, dropped when t ends, and returns its
// URL. Without a server it skips t loudly.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	if s == nil || s.err != nil {
		var err error = errors.New("no pgtest.Main in this package")
		if s != nil {
			err = s.err
		}
		t.Skipf("SKIPPED LOUDLY: no PostgreSQL here (%v). Install the Debian postgresql package (.ci/run does); GOVGATE_REQUIRE_SERVICES=1 makes this a failure", err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// binDir finds the PostgreSQL binaries: GOVGATE_PG_BIN, else the newest Debian install.
func binDir() (string, error) {
	if d := os.Getenv("GOVGATE_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("no /usr/lib/postgresql/*/bin/postgres (and no GOVGATE_PG_BIN)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// account is who the server runs as: the postgres system user when we are root (the
// server refuses root), else ourselves (nil).
func account() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and no postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) start(ctx context.Context, opts Options) error {
	bin, err := binDir()
	if err != nil {
		return err
	}
	cred, err := account()
	if err != nil {
		return err
	}
	if s.dir, err = os.MkdirTemp("", "govgate-pg-"); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	initdb := command(ctx, cred, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		return err
	}
	args := []string{"-D", data, "-p", strconv.Itoa(s.port), "-k", s.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=100", "-c", "shared_buffers=128MB"}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, kv := range opts.Settings {
		args = append(args, "-c", kv)
	}
	s.launch = func() *exec.Cmd { return command(context.Background(), cred, filepath.Join(bin, "postgres"), args...) }
	s.URL = s.url("postgres")
	return s.run(ctx)
}

// run starts the postgres process and waits until it accepts connections.
func (s *Server) run(ctx context.Context) error {
	s.cmd = s.launch()
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	return s.waitReady(ctx)
}

// Restart shuts the server down and starts it again on the same data: its shared buffers
// are empty after, for a benchmark's cold run (the operating system's page cache is not
// dropped). Connections open before are closed.
func (s *Server) Restart(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	s.shutdown()
	return s.run(ctx)
}

// command runs name as cred (nil: as ourselves), killed if the test binary dies first.
func command(ctx context.Context, cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.exec(ctx, "SELECT 1")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres did not accept connections in 30 s: %w\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stop shuts the server down and removes its files.
func (s *Server) stop() {
	s.shutdown()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// shutdown stops the postgres process (fast shutdown: SIGINT; killed after 20 s).
func (s *Server) shutdown() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
}

// StartT starts a server for one test (a package without a TestMain of its own), stopped
// when t ends: skipped loudly when PostgreSQL cannot start, failed with
// GOVGATE_REQUIRE_SERVICES=1.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	s, stop := Start(context.Background(), opts)
	t.Cleanup(stop)
	if s.err != nil && os.Getenv("GOVGATE_REQUIRE_SERVICES") == "1" {
		t.Fatalf("GOVGATE_REQUIRE_SERVICES=1 and PostgreSQL did not start: %v", s.err)
	}
	return s
}
