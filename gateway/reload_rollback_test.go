package gateway_test

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
)

// failingTransport is a transport whose Wrap fails while fail is set: a TLCP listener
// whose identity is gone, a TLS one whose key cannot be read.
type failingTransport struct{ fail atomic.Bool }

func (f *failingTransport) Wrap(ln net.Listener) (net.Listener, error) {
	if f.fail.Load() {
		return nil, errors.New("transport refused the listener")
	}
	return ln, nil
}

// TestRefusedReloadLeavesListenersInForce: a reload that changes a listener in place
// (same address, here a new transport) must free the address before binding it again; if
// the new listener then cannot start, the reload is refused — and must leave what was in
// force: the listener still serving, with its old settings, and GET /config and the
// listeners telling the same story. Before the fix the listener was gone (the data
// listener of a department silently closed) while the reload was reported refused.
func TestRefusedReloadLeavesListenersInForce(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := ConfigForTest(up.addr)
	cfg.TLS = TLSConfig{Cert: "/nonexistent/tls.pem", Key: "/nonexistent/tls.key", ClientCA: "/nonexistent/ca.pem"}
	cfg.Listeners = append(cfg.Listeners, Listener{Name: "int", Address: "127.0.0.1:0", Zone: ZoneInternal, Transport: TransportPlain})
	tr := &failingTransport{}
	g := startGateway(t, cfg, Options{Stages: Stages{Transports: map[Transport]ListenerProvider{TransportTLS: tr}}})
	if status, _, _ := do(t, "GET", g.base+"/population/v1/persons", "", nil); status != 200 {
		t.Fatalf("before the reload: %d", status)
	}

	next := ConfigForTest(up.addr)
	next.TLS = cfg.TLS
	next.Listeners = []Listener{
		{Name: "ext", Address: "127.0.0.1:0", Zone: ZoneExternal, Transport: TransportTLS},   // changed in place: fails
		{Name: "int", Address: "127.0.0.1:0", Zone: ZoneExternal, Transport: TransportPlain}, // changed in place: starts
	}
	next.Routes[0].Timeout = 3 * time.Second
	tr.fail.Store(true)
	if err := g.Reload(next); err == nil {
		t.Fatal("a reload whose listener could not start was applied")
	}
	tr.fail.Store(false)

	addr := g.ListenerAddr("ext")
	if addr == nil {
		t.Fatal("the ext listener is gone after a refused reload")
	}
	if status, _, _ := do(t, "GET", "http://"+addr.String()+"/population/v1/persons", "", nil); status != 200 {
		t.Errorf("ext after a refused reload: %d", status)
	}
	if g.ListenerAddr("int") == nil {
		t.Fatal("the int listener is gone after a refused reload")
	}
	shown := g.Config()
	if shown.Routes[0].Timeout != 2*time.Second || shown.Listeners[0].Transport != TransportPlain || shown.Listeners[1].Zone != ZoneInternal {
		t.Errorf("config in force after a refused reload: %+v %+v", shown.Listeners, shown.Routes[0])
	}
	if got := g.ListenerZone("int"); got != ZoneInternal {
		t.Errorf("int listener serves zone %q after a refused reload, want %q (the config in force)", got, ZoneInternal)
	}

	// The same change with a working transport applies whole.
	if err := g.Reload(next); err != nil {
		t.Fatalf("the reload once the transport works: %v", err)
	}
	if got := g.ListenerZone("int"); got != ZoneExternal {
		t.Errorf("int listener zone %q after the reload, want %q", got, ZoneExternal)
	}
}
