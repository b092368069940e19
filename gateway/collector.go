package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govgate/govgate/internal/metric"
)

// collector reads the gateway's own counters at scrape time into Prometheus metrics, so
// that the request path keeps its lock-free atomics and pays nothing for the exposition.
// The names, types, help texts and label sets are what operators' dashboards use: change
// none of them without saying so.
type collector struct {
	g *Gateway

	requests, stages, openConns, handshakes, clientVerify, reloads *prometheus.Desc
	upstreamHealthy, upstreamInFlight                              *prometheus.Desc
	releaseBytes, releaseRefusals                                  *prometheus.Desc
}

func newCollector(g *Gateway) *collector {
	d := prometheus.NewDesc
	return &collector{
		g:          g,
		requests:   d("govgate_requests_total", "Exchanges by route, status and policy decision.", []string{"route", "status", "decision"}, nil),
		stages:     d("govgate_stage_duration_seconds", "Time spent in each pipeline stage.", []string{"stage"}, nil),
		openConns:  d("govgate_open_connections", "Client connections open, by listener.", []string{"listener"}, nil),
		handshakes: d("govgate_handshake_failures_total", "TLCP handshakes that failed, by listener and reason.", []string{"listener", "reason"}, nil),
		clientVerify: d("govgate_tlcp_client_verify_total",
			"Completed TLCP handshakes by what the client's CertificateVerify signed: SM3 of the handshake messages (GB/T 38636) or the messages themselves (GmSSL 3.x).", []string{"form"}, nil),
		reloads:          d("govgate_config_reloads_total", "Configuration reloads by result.", []string{"result"}, nil),
		upstreamHealthy:  d("govgate_upstream_healthy", "Whether a pool member takes traffic (1) or not (0).", []string{"pool", "member"}, nil),
		upstreamInFlight: d("govgate_upstream_in_flight", "Requests in flight to a pool member.", []string{"pool", "member"}, nil),
		releaseBytes:     d("govgate_release_memory_bytes", "Bytes of limits.release_memory held by exchanges decoding responses (held) and the budget (limit).", []string{"state"}, nil),
		releaseRefusals:  d("govgate_release_memory_refusals_total", "Exchanges refused (503 release_memory_exhausted) for want of release memory.", nil, nil),
	}
}

// Describe sends every family the gateway itself exposes.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.stages, c.openConns, c.handshakes, c.clientVerify,
		c.reloads, c.upstreamHealthy, c.upstreamInFlight, c.releaseBytes, c.releaseRefusals} {
		ch <- d
	}
}

// Collect reads the counters now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectCounters(ch)
	c.collectPools(ch)
	c.collectRelease(ch)
}

func (c *collector) collectCounters(ch chan<- prometheus.Metric) {
	m := c.g.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range m.routes {
		for status := range r.counts {
			for d := range r.counts[status] {
				// Only series that happened: 600 statuses × 3 decisions per route would be
				// mostly zeros.
				if n := r.counts[status][d].Load(); n > 0 {
					ch <- metric.Const(c.requests, prometheus.CounterValue, float64(n), id, strconv.Itoa(status), decisionNames[d])
				}
			}
		}
	}
	for i := range m.stages {
		ch <- m.stages[i].Metric(c.stages, Stage(i).String())
	}
	for name, n := range m.listeners {
		ch <- metric.Const(c.openConns, prometheus.GaugeValue, float64(n.Load()), name)
	}
	// Every reason of every TLCP listener from zero, so that an alert on a rate has a series
	// to start from.
	for name, h := range m.handshakes {
		for i, r := range h.reasons {
			ch <- metric.Const(c.handshakes, prometheus.CounterValue, float64(h.counts[i].Load()), name, r)
		}
	}
	forms, sums := m.clientVerifyCounts()
	for _, f := range forms {
		ch <- metric.Const(c.clientVerify, prometheus.CounterValue, float64(sums[f]), f)
	}
	ch <- metric.Const(c.reloads, prometheus.CounterValue, float64(m.reloadOK.Load()), "ok")
	ch <- metric.Const(c.reloads, prometheus.CounterValue, float64(m.reloadErr.Load()), "error")
}

func (c *collector) collectPools(ch chan<- prometheus.Metric) {
	now := nowNanos()
	for id, p := range c.g.rt.Load().pools {
		for _, m := range p.members {
			ch <- metric.Const(c.upstreamHealthy, prometheus.GaugeValue, metric.Flag(m.available(now)), id, m.addr)
			ch <- metric.Const(c.upstreamInFlight, prometheus.GaugeValue, float64(m.inFlight.Load()), id, m.addr)
		}
	}
}

// collectRelease shows how much of the release budget is held, so that an operator sees
// pressure before exchanges are refused, and how many were.
func (c *collector) collectRelease(ch chan<- prometheus.Metric) {
	r := c.g.rt.Load().release
	ch <- metric.Const(c.releaseBytes, prometheus.GaugeValue, float64(r.budget.held()), "held")
	ch <- metric.Const(c.releaseBytes, prometheus.GaugeValue, float64(r.size), "limit")
	ch <- metric.Const(c.releaseRefusals, prometheus.CounterValue, float64(r.refused.Load()))
}
