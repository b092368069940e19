package gateway

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// FuzzDecode: whatever bytes a provider sends under whatever coding, decoding returns a
// body within the limit (an uncompressed one as it is) or a refusal the release stage knows (a reason code, or the
// budget's 503), never panics, and gives every byte of the budget back.
func FuzzDecode(f *testing.F) {
	const limit = 64 << 10
	names := []string{"gzip", "deflate", "br", "zstd", "", "compress", "gzip, br"}
	for i, c := range names {
		f.Add(uint8(i), encode(f, c, []byte(taxpayerJSON)))
		f.Add(uint8(i), encode(f, c, bytes.Repeat([]byte(" "), limit+1)))
	}
	f.Add(uint8(0), gzipBomb(f, 2))
	m := testReleaseMemory(limit, maxHold(limit), 10*time.Millisecond)
	f.Fuzz(func(t *testing.T, coding uint8, src []byte) {
		name := names[int(coding)%len(names)]
		body, hold, err := m.decode(context.Background(), []byte(name), src)
		if name == "" {
			// Not compressed: the body as received, bounded by pools[].max_response_bytes.
			if err != nil || hold != nil || !bytes.Equal(body, src) {
				t.Fatalf("uncompressed body: %v", err)
			}
			return
		}
		if err == nil && len(body) > limit {
			t.Fatalf("decoded %d bytes, over the limit of %d", len(body), limit)
		}
		var e *Error
		switch {
		case err == nil:
		case errors.As(err, &e) && e.Code == "release_refused" && len(e.Reasons) == 1:
			switch e.Reasons[0].Code {
			case "RESPONSE_TOO_LARGE", "RESPONSE_ENCODING", "RESPONSE_CORRUPT":
			default:
				t.Fatalf("unknown reason %s", e.Reasons[0].Code)
			}
		case errors.As(err, &e) && e.Code == "release_memory_exhausted":
		default:
			t.Fatalf("unexpected error %T %v", err, err)
		}
		hold.Close()
		if !m.idle() {
			t.Fatal("budget not given back")
		}
	})
}
