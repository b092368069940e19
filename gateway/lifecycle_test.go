package gateway_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
)

func TestReloadWithBadConfigKeepsOldRoutes(t *testing.T) {
	up := startUpstream(t, nil)
	gw := startGateway(t, testConfig(up.addr), Options{})

	bad := testConfig(up.addr)
	bad.Routes[0].Pool = "no-such-pool"
	err := gw.Reload(bad)
	if err == nil || !strings.Contains(err.Error(), "routes[0].pool") {
		t.Fatalf("bad reload: %v", err)
	}
	if status, _, _ := do(t, "GET", gw.base+"/population/v1/persons", "", nil); status != 200 {
		t.Errorf("after a refused reload the old route answers %d", status)
	}
	if gw.Config().Routes[0].Pool != "population" {
		t.Error("a refused config was applied")
	}
}

func TestReloadAddsRouteOnOpenConnection(t *testing.T) {
	pop, ent := startUpstream(t, nil), startUpstream(t, nil)
	cfg := testConfig(pop.addr)
	gw := startGateway(t, cfg, Options{})

	c := dialRaw(t, gw.base)
	if resp, _ := c.roundTrip(t, "GET /enterprise/v1/companies HTTP/1.1\r\nHost: gw\r\n\r\n"); resp.StatusCode != 404 {
		t.Fatalf("before reload: %d", resp.StatusCode)
	}
	next := testConfig(pop.addr)
	next.Listeners = cfg.Listeners // same listener settings: its connections stay open
	next.Pools = append(next.Pools, Pool{ID: "enterprise", Addresses: []string{ent.addr}})
	next.Routes = append(next.Routes, Route{ID: "enterprise-query", PathPrefix: "/enterprise/v1", Resource: "enterprise.registration", Mode: ModeQuery, Pool: "enterprise", TargetZone: ZoneInternal})
	next.ApplyDefaults()
	if err := gw.Reload(next); err != nil {
		t.Fatal(err)
	}
	resp, body := c.roundTrip(t, "GET /enterprise/v1/companies HTTP/1.1\r\nHost: gw\r\n\r\n")
	if resp.StatusCode != 200 || decodeEcho(t, body).Server != ent.addr {
		t.Fatalf("new route on the old connection: %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.roundTrip(t, "GET /population/v1/persons HTTP/1.1\r\nHost: gw\r\n\r\n"); resp.StatusCode != 200 {
		t.Errorf("old route after reload: %d", resp.StatusCode)
	}
}

func TestReloadRestartsChangedListenerOnly(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Listeners = append(cfg.Listeners, Listener{Name: "int", Address: "127.0.0.1:0", Zone: ZoneInternal, Transport: TransportPlain})
	gw := startGateway(t, cfg, Options{})
	extAddr := gw.ListenerAddr("ext").String()
	intAddr := gw.ListenerAddr("int").String()

	next := testConfig(up.addr)
	next.Listeners = []Listener{cfg.Listeners[0], {Name: "int", Address: "127.0.0.1:0", Zone: ZoneInternet, Transport: TransportPlain}}
	if err := gw.Reload(next); err != nil {
		t.Fatal(err)
	}
	if gw.ListenerAddr("ext").String() != extAddr {
		t.Error("an unchanged listener was rebound")
	}
	if gw.ListenerAddr("int").String() == intAddr {
		t.Error("a changed listener kept its old server")
	}
	if _, err := net.DialTimeout("tcp", intAddr, time.Second); err == nil {
		t.Error("the replaced listener still accepts")
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	up := startUpstream(t, nil)
	up.delay.Store(int64(300 * time.Millisecond))
	gw := startGateway(t, testConfig(up.addr), Options{})
	addr := gw.ListenerAddr("ext").String()

	var wg sync.WaitGroup
	var status int
	wg.Add(1)
	go func() {
		defer wg.Done()
		status, _, _ = do(t, "GET", gw.base+"/population/v1/persons", "", nil)
	}()
	waitFor(t, "request in flight", func() bool { return up.hits.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	wg.Wait()
	if status != 200 {
		t.Errorf("in-flight request ended with %d", status)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still accepts after shutdown")
	}
	if err := gw.Reload(testConfig(up.addr)); err == nil {
		t.Error("reload after shutdown was accepted")
	}
}
