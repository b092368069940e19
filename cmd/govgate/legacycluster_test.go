package main

import (
	"io"
	"strings"
	"testing"
)

// TestLegacyLongFlagsClusterValue: a cluster of shorthands whose last letter takes a value
// (curl's -sd, -sH) reads the next argument as that value, as pflag does; the rewrite must
// not turn that value into a flag (-sd -key URL sent "-key" as the body, not --key).
func TestLegacyLongFlagsClusterValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"call -sd -key URL", "call -sd -key URL"},                  // -key is -d's value
		{"call -sH -ca URL", "call -sH -ca URL"},                    // -ca is -H's value
		{"call -sdx -key K URL", "call -sdx --key K URL"},           // -d's value is "x", attached
		{"call -sv -ca C URL", "call -sv --ca C URL"},               // a cluster of booleans only
		{"call -sX POST -data D URL", "call -sX POST --data D URL"}, // POST is -X's value
		{"call -sé -key K URL", "call -sé --key K URL"},             // not a cluster pflag reads
	} {
		got := strings.Join(legacyLongFlags(newRoot(io.Discard, io.Discard), strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}
