package gateway

import (
	goruntime "runtime"
	"testing"
)

// One P more than the runtime chose, unless the operator set GOMAXPROCS.
func TestReserveSyscallProc(t *testing.T) {
	before := goruntime.GOMAXPROCS(0)
	t.Cleanup(func() { goruntime.GOMAXPROCS(before) })

	t.Setenv("GOMAXPROCS", "")
	if got := ReserveSyscallProc(); got != before+1 || goruntime.GOMAXPROCS(0) != before+1 {
		t.Errorf("without GOMAXPROCS: returned %d, runtime has %d; want %d", got, goruntime.GOMAXPROCS(0), before+1)
	}
	goruntime.GOMAXPROCS(before)

	t.Setenv("GOMAXPROCS", "3")
	if got := ReserveSyscallProc(); got != before || goruntime.GOMAXPROCS(0) != before {
		t.Errorf("with GOMAXPROCS set: returned %d, runtime has %d; want %d left alone", got, goruntime.GOMAXPROCS(0), before)
	}
}
