package main

import (
	"testing"
)

// FuzzRangeOf: the demo provider's Range parser (a consumer's field, passed on by the
// gateway) never panics and gives only a span inside the file, first byte first.
func FuzzRangeOf(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=100-", "bytes=-5", "bytes=1-2", "bytes=", "items=3-", "bytes=99999999999999999999-", "bytes=5-3", "bytes=0-999999"} {
		f.Add(s, 1000)
	}
	f.Fuzz(func(t *testing.T, v string, size int) {
		if size <= 0 {
			return
		}
		from, to, ok := rangeOf(v, size)
		if !ok {
			return
		}
		if from < 0 || to < from && from < size || to >= size {
			t.Errorf("%q of %d gave %d-%d", v, size, from, to)
		}
	})
}
