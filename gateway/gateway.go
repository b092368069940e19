package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Options configures a Gateway beyond its YAML config.
type Options struct {
	Logger *slog.Logger
	// Stages plugs in the pipeline stages other packages own; nil fields are absent.
	Stages Stages
	// Source rereads the configuration for SIGHUP and POST /reload. Without it, reload
	// requests are refused.
	Source func() (*Config, error)
}

// Gateway is a running govgate: listeners, routes, pools and the admin API.
type Gateway struct {
	log     *slog.Logger
	stages  Stages
	metrics *Metrics
	// serveMetrics answers GET /metrics from the gateway's own registry.
	serveMetrics fasthttp.RequestHandler
	source       func() (*Config, error)

	// rt is the routing state every request reads once, at its start: a reload swaps it
	// whole, so a request never sees half of one config and half of another.
	rt atomic.Pointer[runtime]

	mu        sync.Mutex // serialises Start, Reload and Shutdown
	listeners map[string]*runningListener
	admin     *runningListener
	// adminRoles is set when the admin API speaks TLCP and checks roles; fixed at Start.
	adminRoles bool
	// adminGuard holds the admin API to its own host names and origin; fixed at Start.
	adminGuard *adminGuard
	stopped    bool

	idPrefix  string
	seq       atomic.Uint64
	exchanges exchangePool
}

// runtime is one config revision made ready for the request path.
type runtime struct {
	cfg      *Config
	router   router
	pools    map[string]*pool
	unrouted *routeMetrics
	// release is the release stage's memory budget, carried over by reloads that keep
	// its limits.
	release *releaseMemory
}

// New builds a gateway from a validated config. It binds nothing until Start.
func New(cfg *Config, opts Options) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	var prefix [6]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, fmt.Errorf("request id prefix: %w", err)
	}
	g := &Gateway{
		log:       log,
		stages:    opts.Stages,
		metrics:   NewMetrics(),
		source:    opts.Source,
		listeners: map[string]*runningListener{},
		idPrefix:  hex.EncodeToString(prefix[:]) + "-",
	}
	g.rt.Store(g.buildRuntime(cfg, nil))
	serveMetrics, err := newMetricsHandler(log, newCollector(g), opts.Stages.Metrics)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	g.serveMetrics = serveMetrics
	return g, nil
}

// buildRuntime resolves routes to pools and metrics. Pools whose config is unchanged are
// carried over from old with their connections and health state.
func (g *Gateway) buildRuntime(cfg *Config, old *runtime) *runtime {
	rt := &runtime{cfg: cfg, pools: map[string]*pool{}, unrouted: g.metrics.route(""), release: releaseFor(cfg.Limits, old)}
	for _, pc := range cfg.Pools {
		if old != nil {
			if p := old.pools[pc.ID]; p != nil && p.sameConfig(pc) {
				rt.pools[pc.ID] = p
				continue
			}
		}
		rt.pools[pc.ID] = newPool(pc, g.log)
	}
	for _, r := range cfg.Routes {
		rt.router.routes = append(rt.router.routes, &routeEntry{
			Route:   r,
			host:    []byte(r.Host),
			pool:    rt.pools[r.Pool],
			metrics: g.metrics.route(r.ID),
			release: rt.release,
		})
	}
	return rt
}

// Config returns the configuration in force.
func (g *Gateway) Config() *Config { return g.rt.Load().cfg }

// Start binds the admin API and every listener and starts the health checks. It logs the
// stages the pipeline runs without.
func (g *Gateway) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	rt := g.rt.Load()
	if absent := g.stages.Absent(); len(absent) > 0 {
		g.log.Warn("pipeline runs without stages", "absent", absent)
	}
	admin, err := g.startAdmin(rt.cfg)
	if err != nil {
		return err
	}
	g.admin = admin
	for _, lc := range rt.cfg.Listeners {
		rl, err := g.startListener(lc, rt.cfg.Limits, rt.cfg.StreamsUploads())
		if err != nil {
			g.closeAllLocked(context.Background())
			return err
		}
		g.listeners[lc.Name] = rl
	}
	for _, p := range rt.pools {
		p.startHealthChecks()
	}
	return nil
}

// Reload applies a new config: routes and pools at once for every new request; listeners
// whose settings did not change keep their open connections. A config that fails
// validation, or changes a restart-only field (ReloadRules; the error is a
// *RestartRequiredError naming them), changes nothing.
func (g *Gateway) Reload(cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		g.metrics.reloadErr.Add(1)
		return fmt.Errorf("reload: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return errors.New("reload: gateway is shutting down")
	}
	old := g.rt.Load()
	if err := g.restartRequired(old.cfg, cfg); err != nil {
		g.metrics.reloadErr.Add(1)
		return fmt.Errorf("reload: %w", err)
	}
	if err := g.reloadListenersLocked(cfg); err != nil {
		g.metrics.reloadErr.Add(1)
		return fmt.Errorf("reload: %w", err)
	}
	rt := g.buildRuntime(cfg, old)
	for _, p := range rt.pools {
		if old.pools[p.cfg.ID] != p {
			p.startHealthChecks()
		}
	}
	g.rt.Store(rt)
	for id, p := range old.pools {
		if rt.pools[id] != p {
			go p.close(context.Background())
		}
	}
	g.metrics.reloadOK.Add(1)
	g.log.Info("config reloaded", "routes", len(cfg.Routes), "pools", len(cfg.Pools), "listeners", len(cfg.Listeners))
	return nil
}

// restartRequired refuses next when it changes a restart-only field (ReloadRules) or
// gives a listener a transport that was not set up at start: such a reload is refused
// whole, so that what GET /config shows is what runs.
func (g *Gateway) restartRequired(inForce, next *Config) error {
	fields := restartOnlyChanges(inForce, next)
	for i, l := range next.Listeners {
		if l.Transport != TransportPlain && g.stages.Transports[l.Transport] == nil {
			fields = append(fields, fmt.Sprintf("listeners[%d].transport", i))
		}
	}
	if len(fields) > 0 {
		return &RestartRequiredError{Fields: fields}
	}
	return nil
}

// ReloadFromSource rereads the config through Options.Source and applies it.
func (g *Gateway) ReloadFromSource() error {
	if g.source == nil {
		return errors.New("reload: this gateway was started without a config source")
	}
	cfg, err := g.source()
	if err != nil {
		g.metrics.reloadErr.Add(1)
		return fmt.Errorf("reload: %w", err)
	}
	return g.Reload(cfg)
}

// Shutdown stops accepting, lets in-flight exchanges finish until ctx ends, and closes
// the pools. It returns ctx's error if connections were still busy at the deadline.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil
	}
	g.stopped = true
	return g.closeAllLocked(ctx)
}

func (g *Gateway) closeAllLocked(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(g.listeners)+1)
	for name, rl := range g.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- rl.shutdown(ctx)
		}()
		delete(g.listeners, name)
	}
	wg.Wait()
	if g.admin != nil {
		errs <- g.admin.shutdown(ctx)
		g.admin = nil
	}
	close(errs)
	for _, p := range g.rt.Load().pools {
		p.close(ctx)
	}
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// nextRequestID writes a request id into x.ID without allocating: a random per-process
// prefix and a counter, unique across restarts without coordination.
func (g *Gateway) nextRequestID(x *Exchange) {
	x.ID = append(x.ID[:0], g.idPrefix...)
	x.ID = strconv.AppendUint(x.ID, g.seq.Add(1), 16)
}

// stageDone records the time since start in the stage's histogram and returns now, the
// start of the next stage.
func (g *Gateway) stageDone(stage Stage, start time.Time) time.Time {
	now := time.Now()
	g.metrics.observeStage(stage, now.Sub(start))
	return now
}
