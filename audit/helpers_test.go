package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
)

const testOrigin = "govgate.test/gw-1"

func testSigner(t testing.TB, name string) *NoteSigner {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewNoteSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openTestLog opens a log in dir signing with s; the log records s in dir/keys.json.
func openTestLog(t testing.TB, dir string, s *NoteSigner, opts Options) *Log {
	t.Helper()
	opts.Dir, opts.Origin, opts.Signer = dir, testOrigin, s
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testRecord(i int) *Record {
	return &Record{Kind: KindExchange,
		Time: time.Date(2026, 11, 29, 2, 0, 0, i*1000, time.UTC), Gateway: "gw-1", RequestID: fmt.Sprintf("req-%d", i),
		Client: "127.0.0.1:1", Consumer: Consumer{Dept: "110000-rensheju", System: "s", CertSerial: "01"},
		Provider: "tax", Route: "tax-query", Resource: "tax.registration", Mode: "query", Method: "GET",
		Path: fmt.Sprintf("/tax/v1/x?i=%d", i), Status: 200, Fields: []string{"name"},
		Decision: &Decision{Allow: true, Reasons: []string{}, Revision: "r"}, Bytes: Bytes{Response: int64(i)},
	}
}

// appendN appends n records from c goroutines and returns the receipts by index.
func appendN(t testing.TB, l *Log, n, c int) map[uint64]Receipt {
	t.Helper()
	var mu sync.Mutex
	out := map[uint64]Receipt{}
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += c {
				r, err := l.Append(context.Background(), testRecord(i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				out[r.Index] = r
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func loadKeys(t testing.TB, dir string) *KeySet {
	t.Helper()
	ks, err := LoadKeySet(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}
