package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govgate/govgate/wire"
)

// TestStreamVolumeEndingExactlyAtTheBound: a transfer whose rows take the day's volume
// exactly to its bound completes (no window of nothing at its end cuts it), and the next
// transfer is refused before its head.
func TestStreamVolumeEndingExactlyAtTheBound(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业第%d号,存续\n", i, i)
	}
	quota := func(dir string, s *gatewaySetup) {
		a := strings.Replace(streamAgreements, "        mask:", "        quota: {rows_per_day: 5000}\n        mask:", 1)
		if err := os.WriteFile(filepath.Join(dir, "agreements.yaml"), []byte(a), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := startPolicyGateway(t, 0, csvProvider("text/csv", rows.String(), 4096), withStreamRoutes(0), quota)
	if r := getStream(t, g.base+"/ent/changes.csv", exchanger); r.err != nil || r.status != 200 || r.trailer.Get(wire.HeaderRows) != "5000" || r.trailer.Get(wire.HeaderTransferError) != "" {
		t.Fatalf("the transfer ending at the bound: %d %v %v", r.status, r.err, r.trailer)
	}
	if r := getStream(t, g.base+"/ent/changes.csv", exchanger); r.status != 429 || !strings.Contains(string(r.body), "VOLUME_EXCEEDED") {
		t.Fatalf("after the volume: %d %s", r.status, r.body)
	}
}
