package gateway

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// pool is a running upstream pool: one keep-alive fasthttp client per member, the balancing
// state and the health of each member.
type pool struct {
	cfg     Pool
	members []*member
	next    atomic.Uint64 // round-robin cursor
	headers [][2][]byte   // cfg.Headers, resolved once
	log     *slog.Logger

	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// member is one upstream address.
type member struct {
	addr   string
	host   []byte // the Host header it receives: the pool's host, or else addr
	client *fasthttp.HostClient

	inFlight atomic.Int64
	// healthy is the active checker's verdict; a member starts healthy so that a pool
	// serves before its first probe completes.
	healthy      atomic.Bool
	ejectedUntil atomic.Int64 // unix nanos; passive ejection
	fails        atomic.Int64 // consecutive failed exchanges
	probeOK      int          // consecutive probe results, owned by the checker goroutine
	probeFail    int
}

func newPool(cfg Pool, log *slog.Logger) *pool {
	p := &pool{cfg: cfg, log: log.With("pool", cfg.ID), stop: make(chan struct{})}
	for _, addr := range cfg.Addresses {
		m := &member{addr: addr, client: &fasthttp.HostClient{
			Addr:                          addr,
			Name:                          "govgate",
			MaxConns:                      cfg.MaxConns,
			MaxConnWaitTimeout:            cfg.ConnectTimeout,
			MaxIdleConnDuration:           90 * time.Second,
			DialTimeout:                   dialer(cfg.ConnectTimeout),
			ReadBufferSize:                16 << 10,
			MaxResponseBodySize:           cfg.MaxResponseBytes,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			// The connection used last is taken first: under load the same few
			// connections serve every exchange, and the rest age in the pool until they
			// are closed (MaxIdleConnDuration). Each is still checked before its next
			// request (upstreamConn.Write), however soon that comes.
			ConnPoolStrategy: fasthttp.LIFO,
		}}
		m.host = []byte(cfg.upstreamHost(addr))
		m.client.RetryIfErr = m.retryStale
		m.client.MaxIdemponentCallAttempts = staleAttempts(cfg.MaxConns)
		m.healthy.Store(true)
		p.members = append(p.members, m)
	}
	for k, v := range cfg.Headers {
		p.headers = append(p.headers, [2][]byte{[]byte(k), []byte(v)})
	}
	return p
}

// retryStale is the pool's only retry. A provider must see at most one copy of a request
// (it may act on it; an audit record names one upstream), so the one failure retried is
// errStaleConn: a pooled connection found closed, reset or carrying unsolicited bytes
// before a single byte of this request was written to it. fasthttp has already closed that
// connection; the next attempt takes another idle one (checked the same way) or dials a new
// one. Nothing else is retried, whatever the method: a request written to a connection that
// then failed — even with nothing read back, even a GET — may have reached the provider and
// been acted on, so its exchange fails with 502 instead.
func (m *member) retryStale(_ *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	return false, errors.Is(err, errStaleConn)
}

// staleAttempts bounds the attempts of one exchange: each stale connection found is closed,
// so after at most every pooled connection the next attempt dials.
func staleAttempts(maxConns int) int {
	if maxConns <= 0 {
		maxConns = fasthttp.DefaultMaxConnsPerHost
	}
	return maxConns + 1
}

// sameConfig tells whether a reload can keep this pool, its connections and health state.
func (p *pool) sameConfig(cfg Pool) bool {
	return reflect.DeepEqual(p.cfg, cfg)
}

// pick returns an available member, or nil when none is.
func (p *pool) pick(now int64) *member {
	n := len(p.members)
	if p.cfg.Balance == BalanceLeastConn {
		var best *member
		for _, m := range p.members {
			if m.available(now) && (best == nil || m.inFlight.Load() < best.inFlight.Load()) {
				best = m
			}
		}
		return best
	}
	start := p.next.Add(1)
	for i := 0; i < n; i++ {
		m := p.members[(start+uint64(i))%uint64(n)]
		if m.available(now) {
			return m
		}
	}
	return nil
}

func nowNanos() int64 { return time.Now().UnixNano() }

func (p *pool) healthyMembers() int {
	now := nowNanos()
	c := 0
	for _, m := range p.members {
		if m.available(now) {
			c++
		}
	}
	return c
}

func (m *member) available(now int64) bool {
	return m.healthy.Load() && now >= m.ejectedUntil.Load()
}

// observe feeds the passive check: maxFails consecutive failed exchanges eject the member
// for ejectFor.
func (p *pool) observe(m *member, failed bool) {
	if !failed {
		if m.fails.Load() != 0 {
			m.fails.Store(0)
		}
		return
	}
	max := int64(p.cfg.Passive.MaxFails)
	if max > 0 && m.fails.Add(1) >= max {
		m.fails.Store(0)
		m.ejectedUntil.Store(time.Now().Add(p.cfg.Passive.EjectDuration).UnixNano())
		p.log.Warn("upstream ejected after consecutive failures", "member", m.addr,
			"fails", max, "for", p.cfg.Passive.EjectDuration)
	}
}

// startHealthChecks probes every member on the configured interval until close.
func (p *pool) startHealthChecks() {
	if p.cfg.HealthCheck.Path == "" {
		return
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(p.cfg.HealthCheck.Interval)
		defer t.Stop()
		for {
			p.probeAll()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (p *pool) probeAll() {
	var wg sync.WaitGroup
	for _, m := range p.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.record(m, p.probe(m))
		}()
	}
	wg.Wait()
}

// probe sends one health request; any 2xx within the timeout is healthy.
func (p *pool) probe(m *member) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(p.cfg.HealthCheck.Path)
	req.Header.SetHostBytes(m.host)
	req.UseHostHeader = true
	req.Header.Set("User-Agent", "govgate-health")
	if err := m.client.DoTimeout(req, resp, p.cfg.HealthCheck.Timeout); err != nil {
		return err
	}
	if sc := resp.StatusCode(); sc < 200 || sc > 299 {
		return errors.New(fasthttp.StatusMessage(sc))
	}
	return nil
}

func (p *pool) record(m *member, err error) {
	hc := p.cfg.HealthCheck
	if err == nil {
		m.probeFail = 0
		m.probeOK++
		if !m.healthy.Load() && m.probeOK >= hc.HealthyThreshold {
			m.healthy.Store(true)
			m.ejectedUntil.Store(0)
			p.log.Info("upstream healthy", "member", m.addr)
		}
		return
	}
	m.probeOK = 0
	m.probeFail++
	if m.healthy.Load() && m.probeFail >= hc.UnhealthyThreshold {
		m.healthy.Store(false)
		p.log.Warn("upstream unhealthy", "member", m.addr, "error", err)
	}
}

// close stops the health checker and closes idle connections. In-flight requests finish
// on their own connections.
func (p *pool) close(ctx context.Context) {
	p.stopOnce.Do(func() { close(p.stop) })
	done := make(chan struct{})
	go func() { p.done.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	for _, m := range p.members {
		m.client.CloseIdleConnections()
	}
}
