package main

import (
	"math"
	"strings"
	"testing"
)

// TestFixedRateOnlyForPartialRuns: -rate sets the open-loop rows' rate, so that two builds
// are compared at one load; a full run, whose report and targets are at half of (e4)'s
// throughput, and a negative rate are refused.
func TestFixedRateOnlyForPartialRuns(t *testing.T) {
	rows := []row{{name: "(e3) govgate: + policy", rps: 14000}, {name: "(e4) govgate: + durable audit", rps: 9000}}
	if got := openLoopRate(0, rows); got != 4500 {
		t.Fatalf("without -rate: %v req/s, want half of (e4)'s 9000", got)
	}
	if got := openLoopRate(4700, rows); got != 4700 {
		t.Fatalf("-rate 4700: %v req/s", got)
	}
	if got := openLoopRate(4700, nil); got != 4700 {
		t.Fatalf("-rate 4700 without an (e4) row: %v req/s", got)
	}
	for _, c := range []struct {
		rate float64
		only string
		want string // "" = accepted
	}{
		{0, "", ""},
		{0, "f2", ""},
		{4700, "e4,f2", ""},
		{4700, "", "needs -only"},
		{-1, "f2", "positive"},
		{math.NaN(), "f2", "positive"}, // else (e4) is skipped and its missing row read
		{math.Inf(1), "f2", "positive"},
	} {
		err := checkRate(c.rate, c.only)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("checkRate(%v, %q) = %v, want %q", c.rate, c.only, err, c.want)
		}
	}
}
