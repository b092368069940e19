package certs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/internal/metric"
)

// CertificateHolder is a part that holds certificates: the TLCP pair source, the TLS
// transport.
type CertificateHolder interface {
	Certificates(now time.Time) []crypto.CertInfo
	Refused() int
	Warning() string
}

// Lister reports the certificates the gateway holds, across its parts: what GET /certs on
// the admin API answers, and their days to expiry as a metric.
type Lister struct {
	Holders []CertificateHolder
}

// All lists every holder's certificates in use now.
func (c *Lister) All(now time.Time) []crypto.CertInfo {
	var out []crypto.CertInfo
	for _, s := range c.Holders {
		out = append(out, s.Certificates(now)...)
	}
	return out
}

// Collector returns days to expiry per certificate, the count of refused reloads and
// whether the key store is unreachable, read from the holders at scrape time.
func (c *Lister) Collector() prometheus.Collector {
	d := prometheus.NewDesc
	return &listerCollector{
		l:           c,
		daysLeft:    d("govgate_cert_days_to_expiry", "Days until a certificate the gateway holds expires.", []string{"role", "serial"}, nil),
		refused:     d("govgate_cert_reloads_refused_total", "New certificates, keys or CRLs refused; the running ones stayed.", nil, nil),
		unreachable: d("govgate_key_store_unreachable", "Whether the key store could not be read at the last poll (1): cached keys are in use.", []string{"component"}, nil),
	}
}

type listerCollector struct {
	l                              *Lister
	daysLeft, refused, unreachable *prometheus.Desc
}

func (c *listerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.daysLeft, c.refused, c.unreachable} {
		ch <- d
	}
}

func (c *listerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ci := range c.l.All(time.Now()) {
		ch <- metric.Const(c.daysLeft, prometheus.GaugeValue, float64(ci.DaysLeft), ci.Role, ci.Serial)
	}
	refused, stale := 0, false
	for _, s := range c.l.Holders {
		refused += s.Refused()
		stale = stale || s.Warning() != ""
	}
	ch <- metric.Const(c.refused, prometheus.CounterValue, float64(refused))
	ch <- metric.Const(c.unreachable, prometheus.GaugeValue, metric.Flag(stale), "certs")
}
