package gateway_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"

	"github.com/govgate/govgate/audit"
)

// signalRig is a gateway with a real audit log whose config source counts the rereads and
// serves whatever config next holds (an error when it holds none).
type signalRig struct {
	*testGateway
	log     *audit.Log
	rereads atomic.Int32
	next    atomic.Pointer[Config]
}

func startSignalRig(t *testing.T, auditor Auditor) *signalRig {
	t.Helper()
	r := &signalRig{}
	up := startUpstream(t, nil)
	if auditor == nil {
		stage := openAuditStage(t, t.TempDir(), time.Hour)
		r.log, auditor = stage.Log, stage
	}
	cfg := testConfig(up.addr)
	r.next.Store(cfg)
	r.testGateway = startGateway(t, cfg, Options{Stages: Stages{Audit: auditor}, Source: func() (*Config, error) {
		r.rereads.Add(1)
		if c := r.next.Load(); c != nil {
			return c, nil
		}
		return nil, errors.New("parse govgate.yaml: line 3: mapping values are not allowed here")
	}})
	return r
}

// records parses every record of the log.
func (r *signalRig) records(t *testing.T) []*audit.Record {
	t.Helper()
	var out []*audit.Record
	for i := uint64(0); i < r.log.Size(); i++ {
		b, err := r.log.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := audit.ParseRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		out = append(out, rec)
	}
	return out
}

// wantSignalReload checks that recs are the attempt (status 0) and the outcome of one
// reload asked by SIGHUP, recorded as POST /reload by the operator, under one request id.
func wantSignalReload(t *testing.T, recs []*audit.Record, status int) {
	t.Helper()
	if len(recs) != 2 {
		t.Fatalf("%d records of a signal's reload, want its attempt and its outcome", len(recs))
	}
	for i, want := range []int{0, status} {
		r := recs[i]
		if r.Kind != audit.KindAdmin || r.Role != "operator" || r.Method != "POST" || r.Path != "/reload" ||
			r.Client != "signal:SIGHUP" || r.Status != want || r.Route != "" || r.Consumer.Dept != "" {
			t.Errorf("record %d: %+v, want the admin action POST /reload by signal:SIGHUP with status %d", i, r, want)
		}
	}
	if recs[0].RequestID == "" || recs[0].RequestID != recs[1].RequestID {
		t.Errorf("attempt and outcome under request ids %q and %q, want one", recs[0].RequestID, recs[1].RequestID)
	}
}

// TestSignalReloadIsRecorded: a reload by SIGHUP changes the running config exactly as
// POST /reload does and leaves the same two records — before: nobody could tell from the
// log that the running config had been changed by a signal.
func TestSignalReloadIsRecorded(t *testing.T) {
	r := startSignalRig(t, nil)
	next := testConfig(r.Config().Pools[0].Addresses...)
	next.Routes[0].PathPrefix = "/population/v2"
	r.next.Store(next)
	if err := r.ReloadOnSignal("SIGHUP"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := r.Config().Routes[0].PathPrefix; got != "/population/v2" {
		t.Errorf("after the reload the route is %s", got)
	}
	wantSignalReload(t, r.records(t), 200)
}

// TestSignalReloadRefusedIsRecorded: a config that cannot be read is refused, the running
// one stays, and the refusal is on the record as POST /reload's 422.
func TestSignalReloadRefusedIsRecorded(t *testing.T) {
	r := startSignalRig(t, nil)
	r.next.Store(nil)
	err := r.ReloadOnSignal("SIGHUP")
	if err == nil || !strings.Contains(err.Error(), "mapping values") {
		t.Fatalf("reload of an unreadable config: %v", err)
	}
	if got := r.Config().Routes[0].PathPrefix; got != "/population/v1" {
		t.Errorf("a refused reload changed the route to %s", got)
	}
	wantSignalReload(t, r.records(t), 422)
}

// TestSignalReloadFailsClosed: when the attempt cannot be recorded the config is not even
// reread; when only the outcome cannot, the reload ran and the error says so.
func TestSignalReloadFailsClosed(t *testing.T) {
	a := &flakyAuditor{}
	r := startSignalRig(t, a)
	err := r.ReloadOnSignal("SIGHUP")
	if err == nil || !strings.Contains(err.Error(), "not carried out") {
		t.Errorf("reload with a failing log: %v", err)
	}
	if n := r.rereads.Load(); n != 0 {
		t.Errorf("the config was reread %d times while its record could not be written", n)
	}

	a.mu.Lock()
	a.ok = 1 // the attempt is recorded, the outcome is not
	a.mu.Unlock()
	err = r.ReloadOnSignal("SIGHUP")
	if err == nil || !strings.Contains(err.Error(), "carried out, but its outcome could not be recorded") {
		t.Errorf("reload whose outcome could not be recorded: %v", err)
	}
	if n := r.rereads.Load(); n != 1 {
		t.Errorf("the recorded attempt reread the config %d times, want 1", n)
	}
}
