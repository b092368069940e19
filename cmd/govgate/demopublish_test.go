package main

import (
	"strconv"
	"testing"
)

// FuzzRangeStart: the demo provider's Range parser (a consumer's field, passed on by the
// gateway) never panics and gives only a non-negative offset that the field states.
func FuzzRangeStart(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=100-", "bytes=-5", "bytes=1-2", "bytes=", "items=3-", "bytes=99999999999999999999-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, ok := rangeStart(v)
		if !ok {
			return
		}
		if m, err := strconv.Atoi(v[len("bytes=") : len(v)-1]); n < 0 || err != nil || m != n {
			t.Errorf("%q gave %d", v, n)
		}
	})
}
