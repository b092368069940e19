package gateway_test

import (
	"sync"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
)

func TestHealthCheckEjectsAndRecovers(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Pools[0].HealthCheck = HealthCheck{Path: "/healthz", Interval: 30 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2}
	gw := startGateway(t, cfg, Options{})

	if status, _, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil); status != 200 {
		t.Fatalf("healthy: %d %s", status, body)
	}
	up.down.Store(true)
	waitFor(t, "ejection", func() bool { return !gw.Readiness().Ready })
	status, _, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil)
	if status != 503 || errorCode(t, body) != "no_healthy_upstream" {
		t.Fatalf("ejected: %d %s", status, body)
	}
	if s, _, _ := do(t, "GET", gw.admin+"/readyz", "", nil); s != 503 {
		t.Errorf("/readyz = %d with no healthy member", s)
	}
	up.down.Store(false)
	waitFor(t, "recovery", func() bool { return gw.Readiness().Ready })
	if status, _, body := do(t, "GET", gw.base+"/population/v1/persons", "", nil); status != 200 {
		t.Fatalf("recovered: %d %s", status, body)
	}
}

func TestPassiveEjection(t *testing.T) {
	good := startUpstream(t, nil)
	dead := closedAddr(t)
	cfg := testConfig(dead, good.addr)
	cfg.Pools[0].Passive = PassiveCheck{MaxFails: 2, EjectDuration: time.Hour}
	gw := startGateway(t, cfg, Options{})

	failures := 0
	for i := 0; i < 20; i++ {
		status, _, _ := do(t, "GET", gw.base+"/population/v1/persons", "", nil)
		if status == 502 {
			failures++
		} else if status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if failures != 2 {
		t.Errorf("%d requests failed on the dead member; want exactly max_fails=2 before ejection", failures)
	}
	if good.hits.Load() != 18 {
		t.Errorf("good member served %d, want 18", good.hits.Load())
	}
}

func TestRoundRobinSpreadsLoad(t *testing.T) {
	a, b := startUpstream(t, nil), startUpstream(t, nil)
	gw := startGateway(t, testConfig(a.addr, b.addr), Options{})
	for i := 0; i < 20; i++ {
		if status, _, _ := do(t, "GET", gw.base+"/population/v1/persons", "", nil); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if a.hits.Load() != 10 || b.hits.Load() != 10 {
		t.Errorf("round robin gave %d and %d, want 10 and 10", a.hits.Load(), b.hits.Load())
	}
}

func TestLeastConnAvoidsBusyMember(t *testing.T) {
	slow, fast := startUpstream(t, nil), startUpstream(t, nil)
	slow.delay.Store(int64(400 * time.Millisecond))
	cfg := testConfig(slow.addr, fast.addr)
	cfg.Pools[0].Balance = BalanceLeastConn
	gw := startGateway(t, cfg, Options{})

	// With no request in flight least_conn picks the first member, the slow one; while it
	// holds that request every later one must go to the idle member.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		do(t, "GET", gw.base+"/population/v1/persons", "", nil)
	}()
	waitFor(t, "slow member busy", func() bool { return slow.hits.Load()+fast.hits.Load() == 1 })
	if slow.hits.Load() != 1 {
		t.Fatal("the first request did not go to the first member")
	}
	for i := 0; i < 5; i++ {
		do(t, "GET", gw.base+"/population/v1/persons", "", nil)
	}
	wg.Wait()
	if slow.hits.Load() != 1 || fast.hits.Load() != 5 {
		t.Errorf("least_conn: slow %d, fast %d; want 1 and 5", slow.hits.Load(), fast.hits.Load())
	}
}
