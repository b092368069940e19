package gateway

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govgate/govgate/crypto/tlcp"
)

// decision indexes for the request counters.
const (
	decisionNone = iota
	decisionAllow
	decisionDeny
	numDecisions
)

var decisionNames = [numDecisions]string{"none", "allow", "deny"}

// Metrics holds the gateway's counters in a form the request path updates without
// allocating or locking: per-route arrays of atomics, resolved once per route at reload.
// collector.go reads them at scrape time.
type Metrics struct {
	mu        sync.Mutex
	routes    map[string]*routeMetrics
	listeners map[string]*atomic.Int64
	stages    [numStages]Histogram
	reloadOK  atomic.Uint64
	reloadErr atomic.Uint64
	// handshakes counts failed TLCP handshakes by listener and reason.
	handshakes map[string]*handshakeCounts
	// clientVerify are the TLCP listeners' CertificateVerify form counters (handshakes.go).
	clientVerify clientVerifySources
}

// handshakeCounts are one listener's failed handshakes, one counter per reason of
// tlcp.HandshakeReasons.
type handshakeCounts struct {
	reasons []string
	counts  []atomic.Uint64
}

func (h *handshakeCounts) inc(reason string) {
	for i, r := range h.reasons {
		if r == reason {
			h.counts[i].Add(1)
			return
		}
	}
}

// handshakeFailures returns a listener's handshake counters, created once: every reason
// is rendered from zero, so that an alert on a rate has a series to start from.
func (m *Metrics) handshakeFailures(listener string) *handshakeCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.handshakes[listener]
	if h == nil {
		reasons := tlcp.HandshakeReasons()
		h = &handshakeCounts{reasons: reasons, counts: make([]atomic.Uint64, len(reasons))}
		m.handshakes[listener] = h
	}
	return h
}

// routeMetrics counts requests of one route by status and decision.
type routeMetrics struct {
	counts [600][numDecisions]atomic.Uint64
}

func (r *routeMetrics) inc(status, decision int) {
	if status < 0 || status >= len(r.counts) {
		status = 0
	}
	r.counts[status][decision].Add(1)
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{routes: map[string]*routeMetrics{}, listeners: map[string]*atomic.Int64{}, handshakes: map[string]*handshakeCounts{}}
}

// route returns the counters of a route, creating them once: a reload keeps counting where
// the previous revision left off.
func (m *Metrics) route(id string) *routeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.routes[id]
	if r == nil {
		r = &routeMetrics{}
		m.routes[id] = r
	}
	return r
}

func (m *Metrics) openConns(listener string) *atomic.Int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.listeners[listener]
	if c == nil {
		c = &atomic.Int64{}
		m.listeners[listener] = c
	}
	return c
}

func (m *Metrics) observeStage(stage Stage, d time.Duration) {
	m.stages[stage].Observe(d)
}

// Histogram is a fixed-bucket latency histogram in seconds; its zero value is ready.
type Histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

// latencyBuckets, in seconds: the gateway's own stages live in microseconds, forwarding in
// milliseconds to seconds.
var latencyBuckets = [...]float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets[:], s)
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(d))
}

// Metric returns the histogram as a constant Prometheus histogram of desc, read now: the
// request path keeps its atomics and the scrape pays for the copy.
func (h *Histogram) Metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(latencyBuckets))
	var cum uint64
	for i, b := range latencyBuckets {
		cum += h.counts[i].Load()
		buckets[b] = cum
	}
	cum += h.counts[len(latencyBuckets)].Load()
	m, err := prometheus.NewConstHistogram(desc, cum, float64(h.sumNs.Load())/1e9, buckets, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
