package gateway_test

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics parses a /metrics body with the Prometheus client library's own text
// parser, the one a scraper uses: a body it refuses fails the test.
func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// sample finds the series of family name with exactly the labels given as "name=value"
// pairs and returns its value (a histogram's sample count); ok is false without one.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := append([]string(nil), labels...)
	sort.Strings(want)
	for _, m := range f.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(got)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// hasSample reports whether /metrics body has the series with value v.
func hasSample(t *testing.T, body []byte, v float64, name string, labels ...string) bool {
	t.Helper()
	got, ok := sample(parseMetrics(t, body), name, labels...)
	return ok && got == v
}

// mustSample is sample that fails the test without the series.
func mustSample(t *testing.T, body []byte, name string, labels ...string) float64 {
	t.Helper()
	v, ok := sample(parseMetrics(t, body), name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the metrics:\n%s", name, labels, body)
	}
	return v
}
