package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/wire"
)

// registrationBlock is a block of enterprise registration change rows, about size bytes,
// with quoted fields holding commas: a provider repeats it to make a dataset of any size.
func registrationBlock(size int) (block string, rows int) {
	var b strings.Builder
	for b.Len() < size {
		fmt.Fprintf(&b, "91110108MA%08d,北京数联科技有限公司第%d分公司,张三丰,有限责任公司,\"1000万, 人民币\",2019-03-0%d,存续,\"北京市海淀区中关村大街%d号, 3层\",技术开发,海淀分局\r\n", rows, rows, rows%9+1, rows)
		rows++
	}
	return b.String(), rows
}

const registrationHeader = "uscc,name,legal_representative,type,registered_capital,established_on,status,address,business_scope,registration_authority\r\n"

// bulkProvider streams the header and then block n times.
func bulkProvider(contentType, block string, n int) func(ctx *fasthttp.RequestCtx) bool {
	return func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetContentType(contentType)
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			if contentType == "text/csv" {
				w.WriteString(registrationHeader)
			}
			for i := 0; i < n; i++ {
				if _, err := w.WriteString(block); err != nil {
					return
				}
			}
		})
		return true
	}
}

// heapPeak samples the Go heap in use until stop is called and returns the highest value
// seen. The gateway, the provider and the consumer all run in this process, so the heap is
// their sum: what a buffering stage would show as the whole dataset.
func heapPeak() (stop func() (heap, rss uint64)) {
	var peak, rssPeak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			if i%10 == 0 {
				if r := vmRSS(); r > rssPeak.Load() {
					rssPeak.Store(r)
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) { close(done); wg.Wait(); return peak.Load(), rssPeak.Load() }
}

// vmRSS is the process's resident set in bytes, from /proc/self/status (0 where there is
// none).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestStreamMemoryBounded: a dataset far larger than any buffer the gateway may hold
// crosses an exchange route, cut column by column, and the heap of the whole process
// (gateway, provider and consumer) stays within a bound a small fraction of it. 256 MiB by
// default; GOVGATE_STREAM_MIB=1024 runs the 1 GiB transfer. Measured as the peak of
// runtime.MemStats.HeapInuse sampled every 2 ms against the heap in use before the
// transfer (RSS would count the test binary's other tests' garbage, and VmHWM cannot be
// reset between tests). VmRSS from /proc/self/status is sampled too, under a looser bound.
func TestStreamMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB")
	}
	mib := streamMiB(t)
	block, blockRows := registrationBlock(256 << 10)
	n := (mib << 20) / len(block)
	total := int64(len(registrationHeader)) + int64(n)*int64(len(block))
	for _, tc := range []struct{ name, path, ct string }{
		{"csv column cut", "/ent/changes.csv", "text/csv"},
		{"opaque", "/bulk/tiles/all", "application/octet-stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startPolicyGateway(t, 0, bulkProvider(tc.ct, block, n), withStreamRoutes(total+1))
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base, rssBase := ms.HeapInuse, vmRSS()
			stop := heapPeak()
			req, _ := newGet(g.base+tc.path, exchanger)
			// No client timeout: a loaded machine may take its time; the bound is memory.
			resp, err := (&http.Client{}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			h := crypto.NewSM3()
			got, err := io.Copy(h, resp.Body)
			resp.Body.Close()
			peak, rssPeak := stop()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d after %d bytes: %v", resp.StatusCode, got, err)
			}
			if d := resp.Trailer.Get(wire.HeaderDigest); d != fmt.Sprintf("%s%x", wire.DigestPrefix, h.Sum(nil)) {
				t.Errorf("digest trailer %q", d)
			}
			if tc.ct == "text/csv" {
				if rows := resp.Trailer.Get(wire.HeaderRows); rows != strconv.Itoa(n*blockRows) {
					t.Errorf("rows %s, want %d", rows, n*blockRows)
				}
			} else if got != total-int64(len(registrationHeader)) {
				t.Errorf("%d bytes of %d", got, total)
			}
			growth := int64(peak) - int64(base)
			rssGrowth := int64(rssPeak) - int64(rssBase)
			t.Logf("%d MiB through %s: %d bytes out, heap in use %d MiB before, peak growth %.1f MiB; VmRSS %d MiB before, peak growth %.1f MiB",
				mib, tc.name, got, base>>20, float64(growth)/(1<<20), rssBase>>20, float64(rssGrowth)/(1<<20))
			if bound := int64(32 << 20); growth > bound {
				t.Errorf("heap grew by %d bytes moving %d: more than %d", growth, total, bound)
			}
			// RSS also holds what earlier tests of this process left for the runtime to
			// return; the bound is looser, and still a fraction of the transfer.
			if bound := int64(96 << 20); rssBase > 0 && rssGrowth > bound {
				t.Errorf("VmRSS grew by %d bytes moving %d: more than %d", rssGrowth, total, bound)
			}
		})
	}
}

// streamMiB is how many MiB the memory tests move: 256, or GOVGATE_STREAM_MIB (.ci/run
// sets 1024 where the race detector is off).
func streamMiB(t *testing.T) int {
	t.Helper()
	v := os.Getenv("GOVGATE_STREAM_MIB")
	if v == "" {
		return 256
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("GOVGATE_STREAM_MIB=%q", v)
	}
	return n
}
