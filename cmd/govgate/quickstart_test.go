package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
)

// quickstartStep is one line of a `sh quickstart` block, or a file a `yaml quickstart FILE`
// block writes.
type quickstartStep struct {
	line  int
	args  []string // a command line, split as sh would
	file  string   // or the file a block writes
	body  string
	async bool // the line ends in &: a gateway left running
}

// readQuickstart extracts the steps of docs/quickstart.md in order. Only blocks marked
// quickstart are steps; anything else in them the test cannot run fails it, so the page
// never shows a command no test ran.
func readQuickstart(t *testing.T, path string) []quickstartStep {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var steps []quickstartStep
	var block *quickstartStep // the file block being read
	inSh := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case block != nil && line == "```":
			steps = append(steps, *block)
			block = nil
		case block != nil:
			block.body += line + "\n"
		case inSh && line == "```":
			inSh = false
		case inSh:
			if strings.TrimSpace(line) == "" {
				continue
			}
			args, err := splitShell(line)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			s := quickstartStep{line: n, args: args}
			if last := len(args) - 1; args[last] == "&" {
				s.args, s.async = args[:last], true
			}
			steps = append(steps, s)
		case line == "```sh quickstart":
			inSh = true
		case strings.HasPrefix(line, "```yaml quickstart "):
			block = &quickstartStep{line: n, file: strings.TrimPrefix(line, "```yaml quickstart ")}
		}
	}
	if inSh || block != nil {
		t.Fatalf("%s: a quickstart block is not closed", path)
	}
	return steps
}

// splitShell splits a command line into words: blanks separate, double quotes group.
// The quickstart uses no other shell syntax, and a line that would need more is refused.
func splitShell(line string) ([]string, error) {
	if strings.ContainsAny(line, "'$`|;<>\\") {
		return nil, fmt.Errorf("%q: only plain words and double quotes are supported", line)
	}
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("%q: unclosed quote", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestQuickstart runs docs/quickstart.md as written, in an empty directory, through the
// function the binary runs: CA, the gateway's and a department's pairs, CRL, policy,
// key store, config, serve, a signed TLCP call answered 200 with a receipt, stop, audit
// verify. Before the stop it checks what must be refused: a department the policy does
// not know (403 DEPT_UNKNOWN) and a pair from another CA (no handshake). Ports 8443 and
// 9090 are replaced by free ones, since other tests run on this machine at once.
func TestQuickstart(t *testing.T) {
	steps := readQuickstart(t, "../../docs/quickstart.md")
	dir := t.TempDir()
	t.Chdir(dir)
	data, admin := freePort(t), freePort(t)
	ports := strings.NewReplacer(":8443", ":"+data, ":9090", ":"+admin)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serveOut, serveErr syncBuffer
	served := make(chan int, 1)
	var serving bool
	var called bool
	for _, s := range steps {
		if s.file != "" {
			if err := os.WriteFile(s.file, []byte(ports.Replace(s.body)), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = ports.Replace(a)
		}
		where := fmt.Sprintf("docs/quickstart.md:%d: %s", s.line, strings.Join(s.args, " "))
		switch {
		case args[0] == "govgate" && s.async:
			if args[1] != "serve" || serving {
				t.Fatalf("%s: only one gateway runs in the background", where)
			}
			serving = true
			go func() { served <- run(ctx, args[1:], &serveOut, &serveErr) }()
		case args[0] == "govgate":
			code, out, errOut := runCmd(t, args[1:]...)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s\n%s\ngateway log:\n%s", where, code, out, errOut, serveErr.String())
			}
			if args[1] == "call" {
				called = true
				if !strings.HasPrefix(out, "HTTP/1.1 200 OK") || !strings.Contains(out+errOut, "receipt: log=govgate/gw-quickstart-01; index=") || !strings.Contains(out, `"resources":[{`) {
					t.Errorf("%s: want 200 with the catalog and a receipt:\n%s\n%s", where, out, errOut)
				}
			}
		case args[0] == "mkdir":
			// Run as written, so that the modes the page gives are the modes serve checks
			// (a key store directory others can read is refused).
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", where, err, out)
			}
		case args[0] == "cp" && len(args) == 3:
			b, err := os.ReadFile(args[1])
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if err := os.WriteFile(args[2], b, 0o644); err != nil {
				t.Fatal(err)
			}
		case args[0] == "kill" && len(args) == 2 && args[1] == "%1":
			if !serving || !called {
				t.Fatalf("%s: the quickstart stops a gateway it did not start or call", where)
			}
			quickstartRefusals(t, ports)
			cancel()
			select {
			case code := <-served:
				if code != 0 {
					t.Fatalf("serve exited %d:\n%s", code, serveErr.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("serve did not stop:\n%s", serveErr.String())
			}
			serving = false
		default:
			t.Fatalf("%s: the test does not know how to run this", where)
		}
	}
	if serving || !called {
		t.Fatal("the quickstart must start the gateway, call it and stop it")
	}
	quickstartAuditLog(t)
}

// quickstartRefusals calls the running quickstart gateway as callers it must refuse.
func quickstartRefusals(t *testing.T, ports *strings.Replacer) {
	t.Helper()
	// A data route: the policy decides before the provider (not running here) is asked.
	persons := ports.Replace("https://localhost:8443/population/v1/persons?id=110101199003077777")
	callAs := func(ca, prefix string) (int, string, string) {
		return runCmd(t, "call", "-i", "--ca", ca, "--cert", prefix+"-sign-fullchain.pem,"+prefix+"-enc-fullchain.pem",
			"--key", prefix+"-sign.key,"+prefix+"-enc.key", persons)
	}
	// A pair from the right CA for a department the policy has never heard of.
	if code, out, errOut := runCmd(t, "certs", "issue", "--ca", "ca", "--dept", "990000-unknown", "--system", "stranger", "--out", "strangers"); code != 0 {
		t.Fatalf("issue: %d %s %s", code, out, errOut)
	}
	code, out, errOut := callAs("ca/ca.pem", "strangers/stranger")
	if code != 1 || !strings.HasPrefix(out, "HTTP/1.1 403 Forbidden") || !strings.Contains(out, "DEPT_UNKNOWN") || !strings.Contains(out, `department \"990000-unknown\" is not registered`) {
		t.Errorf("unregistered department: exit %d\n%s\n%s", code, out, errOut)
	}
	// A registered department's name on a pair from another CA: no handshake, no answer.
	if code, out, errOut := runCmd(t, "ca", "init", "--dir", "rogue-ca"); code != 0 {
		t.Fatalf("rogue ca: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "certs", "issue", "--ca", "rogue-ca", "--dept", "110000-rensheju", "--system", "rensheju-app", "--name", "rogue", "--out", "rogue"); code != 0 {
		t.Fatalf("rogue issue: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := callAs("ca/ca.pem", "rogue/rogue"); code != 1 || out != "" {
		t.Errorf("pair from another CA: exit %d\n%s\n%s", code, out, errOut)
	}
}

// quickstartAuditLog checks the log the quickstart's gateway left: the answered call and
// the refused one are records, in a log that verifies against the copy of the keys.
func quickstartAuditLog(t *testing.T) {
	t.Helper()
	keys, err := audit.LoadKeySet("audit-keys.json")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(filepath.Join("audit"), keys)
	if err != nil || len(rep.Faults) > 0 {
		t.Fatalf("verify: %v %v", err, rep)
	}
	if rep.Records < 2 {
		t.Errorf("records %d: want the answered call and the refusal", rep.Records)
	}
	// A log whose keys are not the ones kept apart must not verify.
	if code, out, _ := runCmd(t, "audit", "verify", "audit", "--keys", "rogue-ca/ca.pem"); code == 0 {
		t.Errorf("verify against a wrong key file: exit 0: %s", out)
	}
}
