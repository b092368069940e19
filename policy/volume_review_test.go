package policy

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Checked sound: transfers racing for the same agreement's daily volume never release
// more rows in all than the quota, whatever the interleaving of their windows.
func TestVolumeRacedByParallelTransfers(t *testing.T) {
	v := NewVolumes()
	q := Quota{RowsPerDay: 1000}
	now := time.Now()
	var released atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, ok := v.Add("d", "A", q, now, 0, 0); !ok {
					return // used up: a new transfer is refused
				}
				if _, ok := v.Add("d", "A", q, now, 7, 100); !ok {
					return // this window would cross: the transfer is cut
				}
				released.Add(7)
			}
		}()
	}
	wg.Wait()
	if n := released.Load(); n > 1000 || n < 1000-7 {
		t.Fatalf("%d rows released against a quota of 1000", n)
	}
}
