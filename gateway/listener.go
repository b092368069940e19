package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// runningListener is one bound address with its own fasthttp server, so that a reload can
// replace one listener without touching the connections of the others.
type runningListener struct {
	cfg    Listener
	limits Limits
	// uploads: request bodies are read as streams (Config.StreamsUploads).
	uploads bool
	ln      net.Listener
	srv     *fasthttp.Server
	served  chan error
	open    *atomic.Int64
	// opened is when each open connection was accepted (net.Conn → time.Time), for
	// limits.max_connection_age.
	opened sync.Map
}

// Addr is the bound address; with port 0 in the config, the port the kernel chose.
func (rl *runningListener) Addr() net.Addr { return rl.ln.Addr() }

func (g *Gateway) startListener(lc Listener, limits Limits, uploads bool) (*runningListener, error) {
	ln, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
	}
	ln = limitClients(ln, limits.MaxConnsPerClient)
	if lc.Transport != TransportPlain {
		provider := g.stages.Transports[lc.Transport]
		if provider == nil {
			ln.Close()
			return nil, fmt.Errorf("listener %s: transport %s is not available in this gateway", lc.Name, lc.Transport)
		}
		wrapped, err := provider.Wrap(ln)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("listener %s: %s: %w", lc.Name, lc.Transport, err)
		}
		ln = wrapped
	}
	rl := &runningListener{cfg: lc, limits: limits, uploads: uploads, ln: ln, served: make(chan error, 1), open: g.metrics.openConns(lc.Name)}
	rl.srv = g.newServer(rl)
	g.observeHandshakes(rl)
	go func() { rl.served <- rl.srv.Serve(ln) }()
	g.log.Info("listening", "listener", lc.Name, "address", ln.Addr().String(), "zone", lc.Zone, "transport", lc.Transport)
	return rl, nil
}

func (g *Gateway) newServer(rl *runningListener) *fasthttp.Server {
	lim := rl.limits
	return &fasthttp.Server{
		Handler:                      func(ctx *fasthttp.RequestCtx) { g.handle(rl, ctx); rl.afterExchange(ctx) },
		ErrorHandler:                 func(ctx *fasthttp.RequestCtx, err error) { g.handleReadError(rl, ctx, err) },
		HeaderReceived:               g.requestConfig,
		ConnState:                    rl.connState,
		Name:                         "govgate",
		ReadBufferSize:               lim.MaxHeaderBytes,
		ReadTimeout:                  lim.ReadTimeout,
		WriteTimeout:                 lim.WriteTimeout,
		IdleTimeout:                  lim.IdleTimeout,
		MaxRequestBodySize:           DefaultMaxBodyBytes,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
		CloseOnShutdown:              true,
		// On TLCP and TLS listeners — departments' long-lived keep-alive connections — a
		// connection holds its read and write buffers only while it has a request: at
		// 2,000 mostly idle connections that is 40 MB less (16 KiB reader and 4 KiB writer
		// each). The first byte of the next request is read on its own, from the record
		// already decrypted rather than by a syscall; loadtest/bench showed no throughput
		// difference. Plain listeners keep their buffers: there the first byte would cost
		// a syscall, and buffers reacquired per request 14 allocations.
		ReduceMemoryUsage: rl.cfg.Transport != TransportPlain,
		// Bodies bound for exchange and publish routes stream to the provider
		// (streamupload.go); every other body is read whole before the pipeline, bounded by
		// its route's max_body_bytes, as fasthttp reads it without this. With it fasthttp
		// keeps a keep-alive connection's reader between requests (ReduceMemoryUsage then
		// saves only the writer), so it is on only when some route streams.
		StreamRequestBody: rl.uploads,
		Logger:            fasthttpLogger{g.log.With("listener", rl.cfg.Name)},
	}
}

// requestConfig narrows the body limit to the route's, once the headers are in and before
// the body is read, so that a small-limit route never buffers a large body.
func (g *Gateway) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	p := RawPath(h.RequestURI())
	if e := g.rt.Load().router.match(h.Host(), p); e != nil && e.MaxBodyBytes > 0 {
		return fasthttp.RequestConfig{MaxRequestBodySize: e.MaxBodyBytes}
	}
	return fasthttp.RequestConfig{}
}

// afterExchange closes the connection once the answer in progress is written when its peer
// was refused on it (revoked or no longer trusted since the handshake), or when it is older
// than limits.max_connection_age: nothing negotiated at a handshake — the peer's
// certificate, the session keys — serves longer than that, and a client simply reconnects.
func (rl *runningListener) afterExchange(ctx *fasthttp.RequestCtx) {
	if peerRefused(ctx) || rl.tooOld(ctx.Conn()) {
		ctx.SetConnectionClose()
	}
}

// tooOld: the age is kept here, not read from ctx.ConnTime(): with ReduceMemoryUsage
// fasthttp hands each request a fresh RequestCtx whose ConnTime is zero.
func (rl *runningListener) tooOld(c net.Conn) bool {
	age := rl.limits.MaxConnectionAge
	if age <= 0 {
		return false
	}
	v, ok := rl.opened.Load(c)
	return ok && time.Since(v.(time.Time)) >= age
}

func (rl *runningListener) connState(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		rl.open.Add(1)
		if rl.limits.MaxConnectionAge > 0 {
			rl.opened.Store(c, time.Now())
		}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		rl.open.Add(-1)
		rl.opened.Delete(c)
	}
}

// shutdown stops accepting and waits for open connections to finish their request. The
// listener is closed here as well as by fasthttp: if Serve has not started yet, fasthttp
// does not know the listener, and Serve would otherwise start afterwards and never return.
func (rl *runningListener) shutdown(ctx context.Context) error {
	err := rl.srv.ShutdownWithContext(ctx)
	rl.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if serr := <-rl.served; serr != nil && !errors.Is(serr, net.ErrClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("listener %s: %w", rl.cfg.Name, err)
	}
	return nil
}

// reloadListenersLocked starts, restarts and stops listeners to match cfg. Listeners whose
// settings (and the limits they serve with) are unchanged are left alone with their open
// connections. New addresses are bound before anything is stopped, so that a reload that
// cannot bind leaves the running set as it was.
func (g *Gateway) reloadListenersLocked(cfg *Config) error {
	keep := map[string]bool{}
	uploads := cfg.StreamsUploads()
	var fresh []*runningListener
	var changed []Listener
	for _, lc := range cfg.Listeners {
		old := g.listeners[lc.Name]
		switch {
		case old != nil && old.cfg == lc && old.limits == cfg.Limits && old.uploads == uploads:
			keep[lc.Name] = true
		case old != nil && old.cfg.Address == lc.Address:
			changed = append(changed, lc) // must free the address before binding it again
		default:
			rl, err := g.startListener(lc, cfg.Limits, uploads)
			if err != nil {
				for _, f := range fresh {
					f.shutdown(context.Background())
				}
				return err
			}
			fresh = append(fresh, rl)
		}
	}
	var stopping []*runningListener
	for name, rl := range g.listeners {
		if !keep[name] {
			delete(g.listeners, name)
			rl.ln.Close() // frees the address now; open connections drain below
			stopping = append(stopping, rl)
		}
	}
	go g.drain(stopping, cfg.Limits.ShutdownTimeout)
	started := fresh
	var errs []error
	for _, lc := range changed {
		rl, err := g.startListener(lc, cfg.Limits, uploads)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		started = append(started, rl)
	}
	if err := errors.Join(errs...); err != nil {
		// The reload is refused, so the listeners in force come back as they were: a
		// refused reload must not close a department's listener, nor leave some
		// listeners on the new settings under the old config (GET /config).
		g.restoreListenersLocked(started, stopping, cfg.Limits.ShutdownTimeout)
		return err
	}
	for _, rl := range started {
		g.listeners[rl.cfg.Name] = rl
	}
	return nil
}

// restoreListenersLocked undoes a refused listener reload: the listeners it started stop,
// and those it stopped are started again with the settings they had. One that cannot be
// started again is logged: its address was taken meanwhile.
func (g *Gateway) restoreListenersLocked(started, stopped []*runningListener, timeout time.Duration) {
	for _, rl := range started {
		rl.ln.Close()
	}
	go g.drain(started, timeout)
	for _, old := range stopped {
		rl, err := g.startListener(old.cfg, old.limits, old.uploads)
		if err != nil {
			g.log.Error("reload refused, and a listener in force could not be started again", "listener", old.cfg.Name, "error", err)
			continue
		}
		g.listeners[old.cfg.Name] = rl
	}
}

// drain waits for the connections of stopped listeners to finish, up to timeout.
func (g *Gateway) drain(stopping []*runningListener, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, rl := range stopping {
		if err := rl.shutdown(ctx); err != nil {
			g.log.Warn("listener drained with error", "error", err)
		}
	}
}

// ListenerAddr returns the bound address of the named listener, or nil.
func (g *Gateway) ListenerAddr(name string) net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rl := g.listeners[name]; rl != nil {
		return rl.Addr()
	}
	return nil
}

// AdminAddr returns the bound address of the admin API, or nil.
func (g *Gateway) AdminAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.admin != nil {
		return g.admin.Addr()
	}
	return nil
}

// fasthttpLogger sends fasthttp's own complaints (malformed requests, accept errors) to slog.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
