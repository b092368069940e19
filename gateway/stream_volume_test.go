package gateway_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govgate/govgate/policy"
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

// dyingVolumeStore is a volume store whose connection dies after its first answers, as a
// shared store's does when Redis is killed: the error's cause is io.EOF.
type dyingVolumeStore struct {
	answers int
	calls   int
}

func (d *dyingVolumeStore) AddVolume(ctx context.Context, u policy.VolumeUse) (policy.VolumeVerdict, error) {
	if d.calls++; d.calls > d.answers {
		return policy.VolumeVerdict{}, fmt.Errorf("count volume in redis: %w", io.EOF)
	}
	return policy.VolumeVerdict{Allowed: true}, nil
}

// TestStreamVolumeStoreDyingCutsTheTransfer: a volume store that stops answering in the
// middle of a transfer — its error wrapping io.EOF, as a killed Redis connection's does —
// cuts the transfer with quota_store_unavailable and records it cut; it is not taken for
// the end of the provider's body (a truncated transfer recorded as completed, with a
// trailer proving a whole body). One failing at the start refuses before the head (503).
func TestStreamVolumeStoreDyingCutsTheTransfer(t *testing.T) {
	var rows strings.Builder
	rows.WriteString("uscc,name,status\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&rows, "9111%014d,企业第%d号,存续\n", i, i)
	}
	quota := func(dir string, s *gatewaySetup) {
		a := strings.Replace(streamAgreements, "        mask:", "        quota: {rows_per_day: 1000000}\n        mask:", 1)
		if err := os.WriteFile(filepath.Join(dir, "agreements.yaml"), []byte(a), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := startPolicyGateway(t, 0, csvProvider("text/csv", rows.String(), 4096), withStreamRoutes(0), quota)
	g.stage.Volumes = &dyingVolumeStore{answers: 3} // the start, the first window, one more
	raw := getRaw(t, g.base, "/ent/changes.csv", exchanger)
	if !strings.HasPrefix(raw, "HTTP/1.1 200") || !strings.HasSuffix(raw, "0\r\n"+wire.HeaderTransferError+": quota_store_unavailable\r\n") {
		t.Fatalf("the transfer whose volume store died ended as %q", raw[max(0, len(raw)-160):])
	}
	if e := g.audit.last(); e.code != "quota_store_unavailable" {
		t.Errorf("recorded as %+v", e)
	}
	g.stage.Volumes = &dyingVolumeStore{}
	if r := getStream(t, g.base+"/ent/changes.csv", exchanger); r.status != 503 || !strings.Contains(string(r.body), "quota_store_unavailable") {
		t.Fatalf("a transfer starting with the store dead: %d %s", r.status, r.body)
	}
}
