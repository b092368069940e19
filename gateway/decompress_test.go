package gateway

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"

	"github.com/govgate/govgate/internal/race"
)

// encode compresses data with a content coding, as a provider would.
func encode(t testing.TB, coding string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch strings.ToLower(strings.TrimSpace(coding)) {
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		err = w.Close()
	case "deflate":
		w := zlib.NewWriter(&b)
		w.Write(data)
		err = w.Close()
	case "br":
		out, e := brotli.Compress(data, 5)
		b.Write(out)
		err = e
	case "zstd":
		w, e := zstd.NewWriter(&b)
		if e != nil {
			t.Fatal(e)
		}
		w.Write(data)
		err = w.Close()
	default:
		b.Write(data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testReleaseMemory(limit, budget int64, wait time.Duration) *releaseMemory {
	return newReleaseMemory(Limits{MaxDecompressedBytes: limit, ReleaseMemory: budget, ReleaseWait: wait})
}

// reasonOf is the reason code of a release refusal, or the code of any other refusal.
func reasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if e.Code == "release_refused" && len(e.Reasons) == 1 {
			return e.Reasons[0].Code
		}
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// idle reports whether every byte of the budget is free again.
func (m *releaseMemory) idle() bool {
	return m.budget.idle()
}

var codings = []string{"gzip", "deflate", "br", "zstd"}

// TestDecodeCodings: each content coding the release stage accepts decodes to the body,
// in any case; no coding (or identity) is the body itself.
func TestDecodeCodings(t *testing.T) {
	m := testReleaseMemory(1<<20, 64<<20, time.Second)
	body := []byte(taxpayerJSON)
	for _, c := range append(codings, "GZIP", "Br", "", "identity") {
		got, hold, err := m.decode(context.Background(), []byte(c), encode(t, c, body))
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%q: %v %q", c, err, got)
		}
		hold.Close()
	}
	if !m.idle() {
		t.Error("budget not given back")
	}
}

// TestDecodeStopsAtTheLimit: a body of exactly the limit decodes; one byte more is refused
// (RESPONSE_TOO_LARGE) for every coding, and a bomb many times the limit is refused
// without decoding it all.
func TestDecodeStopsAtTheLimit(t *testing.T) {
	const limit = 256 << 10
	m := testReleaseMemory(limit, 64<<20, time.Second)
	for _, c := range codings {
		exact := bytes.Repeat([]byte(" "), limit)
		if got, hold, err := m.decode(context.Background(), []byte(c), encode(t, c, exact)); err != nil || len(got) != limit {
			t.Errorf("%s, exactly the limit: %v, %d bytes", c, err, len(got))
		} else {
			hold.Close()
		}
		over := append(exact, ' ')
		if _, _, err := m.decode(context.Background(), []byte(c), encode(t, c, over)); reasonOf(err) != "RESPONSE_TOO_LARGE" {
			t.Errorf("%s, one byte over: %v", c, err)
		}
		bomb := encode(t, c, bytes.Repeat([]byte(" "), 64<<20))
		start := time.Now()
		if _, _, err := m.decode(context.Background(), []byte(c), bomb); reasonOf(err) != "RESPONSE_TOO_LARGE" {
			t.Errorf("%s, 64 MiB bomb: %v", c, err)
		}
		t.Logf("%s: a bomb of %d bytes refused in %s", c, len(bomb), time.Since(start))
	}
	if !m.idle() {
		t.Error("budget not given back after refusals")
	}
}

// TestDecodeRefusesUnknownCodings: a coding the gateway does not decode, or codings
// stacked on one another, is refused by name rather than passed to a decoder that guesses.
func TestDecodeRefusesUnknownCodings(t *testing.T) {
	m := testReleaseMemory(1<<20, 64<<20, time.Second)
	gz := encode(t, "gzip", []byte(taxpayerJSON))
	for _, c := range []string{"compress", "x-gzip", "gzip, gzip", "gzip,br", "identity, gzip", "gzip;q=1", "*", ",", "gz ip"} {
		if _, _, err := m.decode(context.Background(), []byte(c), gz); reasonOf(err) != "RESPONSE_ENCODING" {
			t.Errorf("%q: %v", c, err)
		}
	}
}

// TestDecodeRefusesCorruptStreams: a truncated stream, or bytes after its end, is refused
// (RESPONSE_CORRUPT): the gateway releases nothing it decoded only in part.
func TestDecodeRefusesCorruptStreams(t *testing.T) {
	m := testReleaseMemory(1<<20, 64<<20, time.Second)
	for _, c := range codings {
		enc := encode(t, c, []byte(strings.Repeat(taxpayerJSON, 20)))
		for name, src := range map[string][]byte{
			"truncated":      enc[:len(enc)-5],
			"trailing bytes": append(append([]byte{}, enc...), "{\"bank_account\":1}"...),
			"garbage":        []byte("not compressed at all"),
		} {
			if _, _, err := m.decode(context.Background(), []byte(c), src); reasonOf(err) != "RESPONSE_CORRUPT" {
				t.Errorf("%s, %s: %v", c, name, err)
			}
		}
	}
	if !m.idle() {
		t.Error("budget not given back after refusals")
	}
}

// TestReleaseMemoryBudget: exchanges share one budget; one that cannot get its share
// within the wait is refused with 503 release_memory_exhausted, and a closed hold gives
// its bytes back to the next.
func TestReleaseMemoryBudget(t *testing.T) {
	const limit = 256 << 10
	m := testReleaseMemory(limit, 1<<20, 50*time.Millisecond)
	src := encode(t, "gzip", bytes.Repeat([]byte(" "), limit))
	var holds []*releaseHold
	var err error
	for err == nil {
		var h *releaseHold
		_, h, err = m.decode(context.Background(), []byte("gzip"), src)
		holds = append(holds, h)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != 503 || e.Code != "release_memory_exhausted" {
		t.Fatalf("over budget: %v", err)
	}
	if len(holds) < 2 || len(holds) > 4 {
		t.Errorf("%d exchanges fit in 1 MiB at %d bytes each", len(holds)-1, limit)
	}
	holds[0].Close()
	if _, h, err := m.decode(context.Background(), []byte("gzip"), src); err != nil {
		t.Errorf("after a hold was given back: %v", err)
	} else {
		h.Close()
	}
	for _, h := range holds {
		h.Close()
		h.Close() // twice is harmless: fasthttp may close user values more than once
	}
	if !m.idle() {
		t.Error("budget not given back")
	}
	// A canceled request stops waiting at once.
	full := testReleaseMemory(limit, 1<<20, time.Hour)
	full.budget.take(context.Background(), time.Now(), full.size, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := full.decode(ctx, []byte("gzip"), src); reasonOf(err) != "release_memory_exhausted" {
		t.Errorf("canceled wait: %v", err)
	}
}

// TestDecodeUncompressedAllocatesNothing: a response without a content coding pays nothing
// for the decompression machinery.
func TestDecodeUncompressedAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	m := testReleaseMemory(1<<20, 64<<20, time.Second)
	body := []byte(taxpayerJSON)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		got, _, _ := m.decode(ctx, nil, body)
		if len(got) != len(body) {
			t.Fatal("body changed")
		}
	}); n != 0 {
		t.Errorf("%.1f allocations for an uncompressed body", n)
	}
}

func TestReleaseLimitsValidated(t *testing.T) {
	for name, c := range map[string]func(*Config){
		"no decompressed bytes": func(c *Config) { c.Limits.MaxDecompressedBytes = -1 },
		"budget below one response": func(c *Config) {
			c.Limits.MaxDecompressedBytes, c.Limits.ReleaseMemory = 64<<20, 64<<20
		},
		"negative wait":     func(c *Config) { c.Limits.ReleaseWait = -time.Second },
		"no response bytes": func(c *Config) { c.Pools[0].MaxResponseBytes = -1 },
	} {
		cfg := testConfig("127.0.0.1:1")
		c(cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg := testConfig("127.0.0.1:1")
	if cfg.Limits.MaxDecompressedBytes != DefaultMaxDecompressedBytes || cfg.Limits.ReleaseMemory != DefaultReleaseMemory ||
		cfg.Limits.ReleaseWait != DefaultReleaseWait || cfg.Pools[0].MaxResponseBytes != DefaultMaxResponseBytes {
		t.Errorf("defaults: %+v %d", cfg.Limits, cfg.Pools[0].MaxResponseBytes)
	}
}
