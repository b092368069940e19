package sharedstate

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/metric"
)

// Features of the shared state, as metrics and /readyz name them.
const (
	FeatureReplay = "replay"
	FeatureQuota  = "quota"
	// FeatureVolume is the daily volume of streamed transfers (rows_per_day,
	// bytes_per_day); it follows shared.on_failure.quota.
	FeatureVolume = "volume"
)

// Health is whether Redis answers, as the commands of requests and a periodic PING see
// it: the gateway's /readyz part, its warning, its metrics, and the log line of each
// transition (not of each failed request). It recovers by itself: the first command or
// PING that succeeds marks Redis up again.
type Health struct {
	onFailure gateway.SharedOnFailure
	log       *slog.Logger

	mu      sync.Mutex // orders transitions, so that each is logged once
	up      atomic.Bool
	since   atomic.Int64 // unix nanos of the last transition
	lastErr atomic.Value // string: the error that marked Redis down

	errs      sync.Map // op → *atomic.Uint64
	fallbacks [3]atomic.Uint64
	losses    atomic.Uint64 // times Redis came back without the marker
}

// NewHealth starts up (Connect has just reached Redis).
func NewHealth(onFailure gateway.SharedOnFailure, log *slog.Logger) *Health {
	h := &Health{onFailure: onFailure, log: log}
	h.up.Store(true)
	h.since.Store(time.Now().UnixNano())
	h.lastErr.Store("")
	return h
}

// Up reports whether Redis answered the last command or PING.
func (h *Health) Up() bool { return h.up.Load() }

// upSince reports whether Redis has answered without an outage since t.
func (h *Health) upSince(t time.Time) bool {
	return h.up.Load() && h.since.Load() <= t.UnixNano()
}

// observe records the outcome of one command of op. An error that is Redis's own answer
// (a script error, OOM) counts as an error but not as Redis being unreachable.
func (h *Health) observe(op string, err error) {
	if err == nil {
		h.markUp()
		return
	}
	h.countError(op)
	if answered(err) {
		return
	}
	h.markDown(err)
}

func (h *Health) countError(op string) {
	c, _ := h.errs.LoadOrStore(op, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

func (h *Health) markUp() {
	if h.up.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up.Load() {
		return
	}
	down := time.Since(time.Unix(0, h.since.Load()))
	h.since.Store(time.Now().UnixNano())
	h.up.Store(true)
	h.log.Info("shared state: redis answers again; shared replay protection, quotas and volumes are back", "down_for", down.Round(time.Millisecond))
}

func (h *Health) markDown(err error) {
	if !h.up.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.up.Load() {
		return
	}
	h.lastErr.Store(err.Error())
	h.since.Store(time.Now().UnixNano())
	h.up.Store(false)
	h.log.Error("shared state: redis cannot answer; "+h.consequence(), "error", err)
}

// fellBack counts one request a feature served without Redis (local or allow).
func (h *Health) fellBack(feature string) { h.fallbacks[featureIndex(feature)].Add(1) }

func featureIndex(feature string) int {
	switch feature {
	case FeatureQuota:
		return 1
	case FeatureVolume:
		return 2
	}
	return 0
}

// consequence says what the gateway does while Redis is down, per feature.
func (h *Health) consequence() string {
	var parts []string
	switch h.onFailure.Replay {
	case gateway.OnFailureLocal:
		parts = append(parts, "signed requests are checked for replay in this gateway only (a replay sent to another gateway passes)")
	default:
		parts = append(parts, "signed requests are refused")
	}
	switch h.onFailure.Quota {
	case gateway.OnFailureLocal:
		parts = append(parts, "quotas and daily volumes are counted in this gateway only")
	case gateway.OnFailureAllow:
		parts = append(parts, "quotas and daily volumes are not counted")
	default:
		parts = append(parts, "requests under a quota are refused, and streamed transfers under a daily volume are refused or cut")
	}
	return strings.Join(parts, "; ")
}

// degraded reports whether feature runs on its fallback now.
func (h *Health) degraded(feature string) bool {
	if h.up.Load() {
		return false
	}
	if feature == FeatureQuota || feature == FeatureVolume {
		return h.onFailure.Quota != gateway.OnFailureRefuse
	}
	return h.onFailure.Replay != gateway.OnFailureRefuse
}

// Ready implements gateway.ReadyChecker: not ready while Redis is down and a feature
// refuses without it.
func (h *Health) Ready() error {
	if h.up.Load() || (h.onFailure.Replay != gateway.OnFailureRefuse && h.onFailure.Quota != gateway.OnFailureRefuse) {
		return nil
	}
	return fmt.Errorf("redis unreachable since %s (%s): %s", time.Unix(0, h.since.Load()).UTC().Format(time.RFC3339), h.lastErr.Load(), h.consequence())
}

// Warning implements gateway.WarningReporter: what runs weaker than configured while
// Redis is down with a local or allow fallback.
func (h *Health) Warning() string {
	if h.up.Load() || (!h.degraded(FeatureReplay) && !h.degraded(FeatureQuota)) {
		return ""
	}
	return fmt.Sprintf("DEGRADED: redis unreachable since %s: %s", time.Unix(0, h.since.Load()).UTC().Format(time.RFC3339), h.consequence())
}

// Watch is what Run looks at: the gateway's own marker key, set when it starts and kept
// alive by each check (MarkerTTL), whose absence says that Redis lost its data (restarted
// without persistence, flushed); OnLoss is then called (the gateway claims again the
// nonces its audit log recorded) before the marker is set again. Each gateway has its own
// marker, so that every gateway of the fleet notices the loss and claims its own nonces.
type Watch struct {
	Client   rueidis.Client
	Marker   string
	Interval time.Duration
	Timeout  time.Duration
	OnLoss   func(ctx context.Context) error
}

// MarkerTTL is how long a gateway's marker outlives its last check: the marker of a
// gateway that stopped goes away by itself.
const MarkerTTL = time.Hour

// Mark sets the marker key: Redis holds the fleet's state from now on.
func (w Watch) Mark(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	if err := w.Client.Do(ctx, w.Client.B().Set().Key(w.Marker).Value("1").PxMilliseconds(MarkerTTL.Milliseconds()).Build()).Error(); err != nil {
		return fmt.Errorf("set marker %s: %w", w.Marker, err)
	}
	return nil
}

// Run asks Redis for the marker every interval until ctx ends, so that an idle gateway
// notices an outage, its end, and a Redis that came back empty, without a request.
func (h *Health) Run(ctx context.Context, w Watch) {
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, w.Timeout)
		// PEXPIRE both asks (0: no such key) and keeps the marker of a live gateway alive.
		n, err := w.Client.Do(pctx, w.Client.B().Pexpire().Key(w.Marker).Milliseconds(MarkerTTL.Milliseconds()).Build()).AsInt64()
		cancel()
		if ctx.Err() != nil {
			return
		}
		h.observe("ping", err)
		if err == nil && n == 0 {
			h.dataLost(ctx, w)
		}
	}
}

// dataLost is a Redis that answers without the marker: the claims and counts it held are
// gone, so replays of requests signed before are open until the nonces are claimed again.
func (h *Health) dataLost(ctx context.Context, w Watch) {
	h.losses.Add(1)
	h.log.Error("shared state: redis answers but lost its data (restarted without appendonly, or flushed); claiming again the nonces this gateway's audit log recorded; the day's quota and volume counts start again")
	if w.OnLoss != nil {
		if err := w.OnLoss(ctx); err != nil {
			h.log.Error("shared state: claiming the nonces again failed; the marker stays unset and it is tried again", "error", err)
			return
		}
	}
	if err := w.Mark(ctx); err != nil {
		h.observe("ping", err)
	}
}

var (
	descUp       = prometheus.NewDesc("govgate_shared_state_up", "1 while Redis answers the gateway's shared-state commands, 0 while it cannot.", nil, nil)
	descErrors   = prometheus.NewDesc("govgate_shared_state_errors_total", "Shared-state commands that failed, by operation (claim, release, count, return, volume, ping).", []string{"op"}, nil)
	descDegraded = prometheus.NewDesc("govgate_shared_state_degraded", "1 while a feature runs on its local or allow fallback because Redis cannot answer: weaker than the fleet's config.", []string{"feature"}, nil)
	descFallback = prometheus.NewDesc("govgate_shared_state_fallbacks_total", "Requests a feature decided without Redis (on_failure local or allow).", []string{"feature"}, nil)
	descLosses   = prometheus.NewDesc("govgate_shared_state_data_lost_total", "Times Redis answered without the marker key: it lost the fleet's claims and counts (restarted without persistence, flushed).", nil, nil)
)

// Describe implements prometheus.Collector.
func (h *Health) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descErrors, descDegraded, descFallback, descLosses} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (h *Health) Collect(ch chan<- prometheus.Metric) {
	ch <- metric.Const(descUp, prometheus.GaugeValue, metric.Flag(h.up.Load()))
	ch <- metric.Const(descLosses, prometheus.CounterValue, float64(h.losses.Load()))
	for _, op := range []string{"claim", "release", "count", "return", "volume", "ping"} {
		var n uint64
		if c, ok := h.errs.Load(op); ok {
			n = c.(*atomic.Uint64).Load()
		}
		ch <- metric.Const(descErrors, prometheus.CounterValue, float64(n), op)
	}
	for _, f := range []string{FeatureReplay, FeatureQuota, FeatureVolume} {
		ch <- metric.Const(descDegraded, prometheus.GaugeValue, metric.Flag(h.degraded(f)), f)
		ch <- metric.Const(descFallback, prometheus.CounterValue, float64(h.fallbacks[featureIndex(f)].Load()), f)
	}
}
