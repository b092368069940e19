package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an output the command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestUsageAndErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "demo") {
		t.Errorf("no command: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"nonsense"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "nonsense"`) {
		t.Errorf("unknown command: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"serve", "--no-such-flag"}, &out, &errOut); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"serve", "-c", "/nonexistent/govgate.yaml"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "/nonexistent/govgate.yaml") {
		t.Errorf("missing config: exit %d, %s", code, errOut.String())
	}
}

func TestConfigCommandPrintsDefaults(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "-c", "../../examples/govgate.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "gw-beijing-ext-01") || !strings.Contains(out.String(), "REDACTED") || strings.Contains(out.String(), "replace-with-the-provider-token") {
		t.Errorf("config output:\n%s", out.String())
	}
}

// TestDemoAnswersThroughTheGateway runs `govgate demo` as the README says (on free ports),
// sends a request through the gateway to the sample population registry, and stops it.
func TestDemoAnswersThroughTheGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, &out, &errOut)
	}()
	gwRe := regexp.MustCompile(`curl -si '(http://127\.0\.0\.1:\d+)/population`)
	deadline := time.Now().Add(10 * time.Second)
	var base string
	for base == "" {
		if m := gwRe.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("demo did not start:\n%s\n%s", out.String(), errOut.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	resp, err := http.Get(base + "/population/v1/persons?id=110101199003077777")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "张伟") {
		t.Fatalf("demo answered %d: %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exit %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
}
