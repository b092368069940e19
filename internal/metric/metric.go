package metric

import "github.com/prometheus/client_golang/prometheus"

// Const is prometheus.NewConstMetric for label values a part does not control (route ids
// from config, certificate serials): a value the exposition cannot carry (not UTF-8) makes
// the registry report that series' error at Gather, where MustNewConstMetric would panic in
// the middle of a scrape.
func Const(desc *prometheus.Desc, kind prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, kind, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}

// Flag is 1 for true and 0 for false, for the gauges that say whether a part is failing.
func Flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
