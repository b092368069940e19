package audit

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
)

const crashDirEnv = "GOVGATE_AUDIT_CRASH_DIR"

// TestMain runs the test binary as the appender TestCrashLosesNothingAcknowledged kills,
// when asked to by the environment.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashAppender(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashAppender appends from eight goroutines and prints every acknowledged index and
// leaf, until it is killed.
func crashAppender(dir string) {
	key, _ := crypto.GenerateKey()
	s, _ := NewNoteSigner("crash-audit", key)
	l, err := Open(Options{Dir: dir, Origin: testOrigin, Signer: s, CheckpointInterval: 50 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 8 {
				r, err := l.Append(context.Background(), testRecord(i))
				if err != nil {
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %x\n", r.Index, r.Leaf)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{}
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue
		}
		i, _ := strconv.ParseUint(f[1], 10, 64)
		acked[i] = f[2]
		if len(acked) == 3000 && !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("the appender stopped by itself after %d records", len(acked))
	}

	s := testSigner(t, "after-crash-audit")
	l := openTestLog(t, dir, s, Options{})
	size := l.Size()
	for i, leaf := range acked {
		if i >= size {
			t.Fatalf("record %d was acknowledged but the log has %d records", i, size)
		}
		rec, err := l.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(Hasher{}.HashLeaf(rec)) != leaf {
			t.Fatalf("record %d differs from the one acknowledged", i)
		}
	}
	appendN(t, l, 100, 4)
	l.Close()
	rep, err := Verify(dir, loadKeys(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != size+100 {
		t.Errorf("verified %d records, want %d", rep.Records, size+100)
	}
	t.Logf("killed after %d acknowledged; recovered %d records; verified %d with %d checkpoints", len(acked), size, rep.Records, rep.Checkpoints)
}
