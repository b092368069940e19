package redistest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sentinel is one redis-sentinel watching a master under a name.
type Sentinel struct {
	Addr   string
	Master string // the master set's name
}

// StartSentinel starts a redis-sentinel on a free loopback port that monitors master
// under name (quorum 1), and waits until it reports master's address. It stops when t ends.
func StartSentinel(t testing.TB, master *Server, name string) *Sentinel {
	t.Helper()
	bin := lookPath(t, "redis-sentinel")
	dir := t.TempDir()
	s := &Sentinel{Addr: FreeAddr(t), Master: name}
	host, port, _ := net.SplitHostPort(master.Addr)
	_, sport, _ := net.SplitHostPort(s.Addr)
	conf := []string{
		"bind 127.0.0.1", "port " + sport, "dir " + dir, "protected-mode no",
		"logfile " + filepath.Join(dir, "sentinel.log"),
		fmt.Sprintf("sentinel monitor %s %s %s 1", name, host, port),
		fmt.Sprintf("sentinel down-after-milliseconds %s 1000", name),
		fmt.Sprintf("sentinel failover-timeout %s 5000", name),
	}
	if master.Password != "" {
		conf = append(conf, fmt.Sprintf("sentinel auth-pass %s %s", name, master.Password))
	}
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-sentinel: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := cli(s.Addr, "", "SENTINEL", "get-master-addr-by-name", name)
		if err == nil && strings.Contains(got, port) {
			return s
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Fatalf("redis-sentinel exited: %s%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-sentinel on %s does not know master %s: %q %v", s.Addr, name, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Cli runs one redis-cli command against addr (a sentinel, a node) without credentials.
func Cli(addr string, args ...string) (string, error) { return cli(addr, "", args...) }
