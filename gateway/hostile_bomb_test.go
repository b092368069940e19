package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"

	"github.com/govgate/govgate/internal/race"
)

// procStatus reads a field of /proc/self/status in bytes, or -1.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// peakRSS measures the highest resident set size while run runs: VmHWM after resetting it
// (clear_refs 5) where the kernel allows, else the highest VmRSS sampled every 2 ms.
func peakRSS(run func()) (peak int64, how string) {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil {
		run()
		return procStatus("VmHWM"), "VmHWM"
	}
	var max atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if v := procStatus("VmRSS"); v > max.Load() {
				max.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	run()
	close(stop)
	<-done
	return max.Load(), "sampled VmRSS"
}

// TestReleaseBombsHoldBoundedMemory: eight providers' answers at once, each 1 GiB of JSON
// whitespace gzipped into 1 MiB. Each is refused (502, RESPONSE_TOO_LARGE) at the first byte
// over the per-response limit, and the gateway's resident memory stays within the release
// budget plus the process's ordinary slack — not a gigabyte per bomb, nor the 64 MiB
// decompressed plus its growth copies each used to cost. A good compressed answer is still
// released afterwards.
func TestReleaseBombsHoldBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses hundreds of megabytes")
	}
	const (
		bombs    = 8
		budget   = 64 << 20
		limit    = 8 << 20
		headroom = 100 << 20
	)
	bomb := rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: gzip"}, string(gzipBomb(t, 1024)))
	good := rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: gzip"}, string(Encode(t, "gzip", []byte(taxpayerJSON))))
	g, _ := startHostile(t, func(req []byte) string {
		if bytes.Contains(req, []byte("/tax/v1/good")) {
			return good
		}
		return bomb
	}, func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) {
			c.Limits.MaxDecompressedBytes, c.Limits.ReleaseMemory, c.Limits.ReleaseWait = limit, budget, 10*time.Second
		}
	})
	do(t, "GET", g.base+"/tax/v1/good", "", rensheju) // warm connections and pools
	goruntime.GC()
	debug.FreeOSMemory()
	base := procStatus("VmRSS")

	type result struct {
		status  int
		code    string
		reasons string
	}
	results := make([]result, bombs)
	peak, how := peakRSS(func() {
		var wg sync.WaitGroup
		for i := range bombs {
			wg.Go(func() {
				// Not do: t.Fatal belongs to the test's goroutine.
				req, _ := http.NewRequest("GET", g.base+fmt.Sprintf("/tax/v1/bomb%d", i), nil)
				for k, v := range rensheju {
					req.Header.Set(k, v)
				}
				resp, err := testClient.Do(req)
				if err != nil {
					results[i] = result{code: err.Error()}
					return
				}
				defer resp.Body.Close()
				var b ErrorBody
				json.NewDecoder(resp.Body).Decode(&b)
				var reasons []string
				for _, r := range b.Error.Reasons {
					reasons = append(reasons, r.Code)
				}
				results[i] = result{resp.StatusCode, b.Error.Code, strings.Join(reasons, ",")}
			})
		}
		wg.Wait()
	})
	t.Logf("%d concurrent 1 GiB gzip bombs: peak RSS %d MiB (%s) over %d MiB before; release budget %d MiB, per-response limit %d MiB",
		bombs, peak>>20, how, base>>20, budget>>20, limit>>20)
	for i, r := range results {
		if r.status != 502 || r.code != "release_refused" || r.reasons != "RESPONSE_TOO_LARGE" {
			t.Errorf("bomb %d: %+v", i, r)
		}
	}
	if race.Enabled {
		t.Log("resident memory not bounded under the race detector (shadow memory); the refusals are checked")
	} else if base > 0 && peak-base > budget+headroom {
		t.Errorf("peak RSS rose by %d MiB; the bound is the release budget (%d MiB) + %d MiB", (peak-base)>>20, budget>>20, headroom>>20)
	}
	status, h, body := do(t, "GET", g.base+"/tax/v1/good", "", rensheju)
	if status != 200 || strings.Contains(string(body), "bank_account") || !strings.Contains(string(body), "tax_status") || h.Get("Content-Encoding") != "" {
		t.Errorf("good compressed answer after the bombs: %d %v %s", status, h, body)
	}
}

// TestReleaseRefusesUnknownEncodings over sockets: a provider's Content-Encoding the
// release stage does not decode, stacked codings, or a corrupt stream are each refused
// with 502 and a reason naming what was wrong; nothing of the body leaks.
func TestReleaseRefusesUnknownEncodings(t *testing.T) {
	gz := string(Encode(t, "gzip", []byte(taxpayerJSON)))
	answers := map[string]string{
		"/tax/v1/compress": rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: compress"}, gz),
		"/tax/v1/stacked":  rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: gzip, gzip"}, gz),
		"/tax/v1/corrupt":  rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: gzip"}, gz[:len(gz)-8]),
		"/tax/v1/zstd":     rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: zstd"}, string(Encode(t, "zstd", []byte(taxpayerJSON)))),
		"/tax/v1/br":       rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: br"}, string(Encode(t, "br", []byte(taxpayerJSON)))),
	}
	g, _ := startHostile(t, func(req []byte) string {
		line, _, _ := rawHead(req)
		return answers[strings.Fields(line)[1]]
	})
	for path, want := range map[string]string{
		"/tax/v1/compress": "RESPONSE_ENCODING",
		"/tax/v1/stacked":  "RESPONSE_ENCODING",
		"/tax/v1/corrupt":  "RESPONSE_CORRUPT",
	} {
		status, _, body := do(t, "GET", g.base+path, "", rensheju)
		if status != 502 || errorCode(t, body) != "release_refused" || strings.Join(reasonCodes(t, body), ",") != want || strings.Contains(string(body), "6222") {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	for _, path := range []string{"/tax/v1/zstd", "/tax/v1/br"} {
		status, _, body := do(t, "GET", g.base+path, "", rensheju)
		if status != 200 || !strings.Contains(string(body), "tax_status") || strings.Contains(string(body), "bank_account") {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}

// TestReleaseMemoryExhausted over sockets: when the release budget is taken, an exchange
// that needs to decode waits at most limits.release_wait and is refused with 503.
func TestReleaseMemoryExhausted(t *testing.T) {
	good := rawResponse(200, []string{"Content-Type: application/json", "Content-Encoding: gzip"}, string(Encode(t, "gzip", []byte(taxpayerJSON))))
	g, rp := startHostile(t, func([]byte) string { return good }, func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) {
			c.Limits.MaxDecompressedBytes, c.Limits.ReleaseMemory, c.Limits.ReleaseWait = 1<<20, 24<<20, 50*time.Millisecond
		}
	})
	m := g.ReleaseBudget()
	takeAll := func() {
		t.Helper()
		if err := m.TakeAll(t.Context()); err != nil {
			t.Fatalf("taking the whole budget: %v", err)
		}
	}
	takeAll()
	status, _, body := do(t, "GET", g.base+"/tax/v1/x", "", rensheju)
	if status != 503 || errorCode(t, body) != "release_memory_exhausted" || strings.Contains(string(body), "北京数联") {
		t.Errorf("budget taken: %d %s", status, body)
	}
	_, _, metrics := do(t, "GET", g.admin+"/metrics", "", nil)
	for _, want := range []struct {
		name  string
		value float64
		label []string
	}{
		{"govgate_release_memory_bytes", 25165824, []string{"state=held"}},
		{"govgate_release_memory_bytes", 25165824, []string{"state=limit"}},
		{"govgate_release_memory_refusals_total", 1, nil},
	} {
		if !hasSample(t, metrics, want.value, want.name, want.label...) {
			t.Errorf("/metrics lacks %s%v = %g:\n%s", want.name, want.label, want.value, metrics)
		}
	}
	m.GiveAll()
	if status, _, body := do(t, "GET", g.base+"/tax/v1/x", "", rensheju); status != 200 {
		t.Errorf("budget free: %d %s", status, body)
	}
	// The released exchange's share comes back once its response has been written.
	waitFor(t, "the release budget given back", m.Idle)
	// Uncompressed answers do not use the budget at all.
	takeAll()
	defer m.GiveAll()
	rp.setAnswer(func([]byte) string {
		return rawResponse(200, []string{"Content-Type: application/json"}, taxpayerJSON)
	})
	if status, _, body := do(t, "GET", g.base+"/tax/v1/x", "", rensheju); status != 200 {
		t.Errorf("uncompressed answer with the budget taken: %d %s", status, body)
	}
	// A reload keeps the budget while its limits stay, and replaces it when they change.
	same := *g.Config()
	if err := g.Reload(&same); err != nil || g.ReleaseBudget() != m {
		t.Errorf("reload with the same limits: %v, budget kept %v", err, g.ReleaseBudget() == m)
	}
	changed := *g.Config()
	changed.Limits.ReleaseMemory = 32 << 20
	if err := g.Reload(&changed); err != nil || g.ReleaseBudget() == m || g.ReleaseBudget().Size() != 32<<20 {
		t.Errorf("reload with a new budget: %v", err)
	}
}

// TestUpstreamResponseBounded: the gateway buffers at most pools[].max_response_bytes of a
// provider's answer, whether its length is declared or chunked.
func TestUpstreamResponseBounded(t *testing.T) {
	big := strings.Repeat(" ", 2<<20) + "{}"
	chunked := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)
	g, _ := startHostile(t, func(req []byte) string {
		if bytes.Contains(req, []byte("/tax/v1/chunked")) {
			return chunked
		}
		return rawResponse(200, []string{"Content-Type: application/json"}, big)
	}, func(_ string, s *gatewaySetup) {
		s.config = func(c *Config) { c.Pools[0].MaxResponseBytes = 1 << 20 }
	})
	for _, path := range []string{"/tax/v1/declared", "/tax/v1/chunked"} {
		status, _, body := do(t, "GET", g.base+path, "", rensheju)
		if status != 502 || errorCode(t, body) != "upstream_response_too_large" || !strings.Contains(string(body), "1048576") {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}
