package ship

import (
	"github.com/govgate/govgate/internal/metric"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descRecords     = prometheus.NewDesc("govgate_audit_ship_records_total", "Records shipped into the audit index.", []string{"origin"}, nil)
	descCheckpoints = prometheus.NewDesc("govgate_audit_ship_checkpoints_total", "Checkpoints shipped into the audit index.", []string{"origin"}, nil)
	descBatches     = prometheus.NewDesc("govgate_audit_ship_batches_total", "Transactions committed by the shipper.", []string{"origin"}, nil)
	descAlerts      = prometheus.NewDesc("govgate_audit_ship_alerts_total", "What the shipper refused: rewritten history, records that do not verify.", []string{"origin"}, nil)
	descRefused     = prometheus.NewDesc("govgate_audit_ship_refused", "1 once the shipper refused the log and stopped advancing.", []string{"origin"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Shipper) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descCheckpoints, descBatches, descAlerts, descRefused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Shipper) Collect(ch chan<- prometheus.Metric) {
	o := s.origin
	ch <- metric.Const(descRecords, prometheus.CounterValue, float64(s.stats.records.Load()), o)
	ch <- metric.Const(descCheckpoints, prometheus.CounterValue, float64(s.stats.checkpoints.Load()), o)
	ch <- metric.Const(descBatches, prometheus.CounterValue, float64(s.stats.batches.Load()), o)
	ch <- metric.Const(descAlerts, prometheus.CounterValue, float64(s.stats.alerts.Load()), o)
	ch <- metric.Const(descRefused, prometheus.GaugeValue, metric.Flag(s.stats.refused.Load()), o)
}
