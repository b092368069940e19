package gateway_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	. "github.com/govgate/govgate/gateway"
)

// hostileID is a route and pool id with everything the exposition format escapes (double
// quote, backslash, newline) and what Go's %q would have escaped differently (a tab, non-
// ASCII): the config is the operator's, and nothing in it may break a scrape or let one
// series pass for another.
const hostileID = "人口 \"query\"\\v1\n\tend"

// TestMetricsScrapedByThePrometheusParser: after real traffic, /metrics on the real admin
// listener parses with the client library's parser, with the families, types and values
// the dashboards rely on, a hostile route id round-tripped exactly, and every family
// exactly once.
func TestMetricsScrapedByThePrometheusParser(t *testing.T) {
	up := startUpstream(t, nil)
	cfg := testConfig(up.addr)
	cfg.Routes[0].ID = hostileID
	cfg.Routes[0].Pool = hostileID
	cfg.Pools[0].ID = hostileID
	gw := startGateway(t, cfg, Options{})
	for range 3 {
		if s, _, b := do(t, "GET", gw.base+"/population/v1/persons", "", nil); s != 200 {
			t.Fatalf("exchange: %d %s", s, b)
		}
	}
	do(t, "GET", gw.base+"/nowhere", "", nil)

	status, h, body := do(t, "GET", gw.admin+"/metrics", "", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %q", status, h.Get("Content-Type"))
	}
	fams := parseMetrics(t, body)
	for name, want := range map[string]dto.MetricType{
		"govgate_requests_total":                dto.MetricType_COUNTER,
		"govgate_stage_duration_seconds":        dto.MetricType_HISTOGRAM,
		"govgate_open_connections":              dto.MetricType_GAUGE,
		"govgate_config_reloads_total":          dto.MetricType_COUNTER,
		"govgate_upstream_healthy":              dto.MetricType_GAUGE,
		"govgate_upstream_in_flight":            dto.MetricType_GAUGE,
		"govgate_release_memory_bytes":          dto.MetricType_GAUGE,
		"govgate_release_memory_refusals_total": dto.MetricType_COUNTER,
	} {
		if f := fams[name]; f == nil || f.GetType() != want {
			t.Errorf("family %s: %v, want type %v", name, f, want)
		}
	}
	if got := fams["govgate_requests_total"].GetHelp(); got != "Exchanges by route, status and policy decision." {
		t.Errorf("help of govgate_requests_total: %q", got)
	}
	if v, ok := sample(fams, "govgate_requests_total", "route="+hostileID, "status=200", "decision=none"); !ok || v != 3 {
		t.Errorf("the hostile route's exchanges: %v %v; series:\n%s", v, ok, body)
	}
	if v, ok := sample(fams, "govgate_requests_total", "route=", "status=404", "decision=none"); !ok || v != 1 {
		t.Errorf("unrouted exchanges: %v %v", v, ok)
	}
	if v, ok := sample(fams, "govgate_upstream_healthy", "pool="+hostileID, "member="+up.addr); !ok || v != 1 {
		t.Errorf("the hostile pool's member: %v %v", v, ok)
	}
	// The route id's newline cannot start a line of its own: no line outside a family's
	// comments begins with anything but a govgate_ series.
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if !strings.HasPrefix(line, "govgate_") && !strings.HasPrefix(line, "# HELP govgate_") && !strings.HasPrefix(line, "# TYPE govgate_") {
			t.Errorf("a line that is no series: %q", line)
		}
	}
	if n := strings.Count(string(body), "# TYPE govgate_requests_total "); n != 1 {
		t.Errorf("govgate_requests_total declared %d times", n)
	}
	// A forward stage histogram counts every forwarded exchange, and its buckets are
	// cumulative up to +Inf.
	hist := fams["govgate_stage_duration_seconds"]
	for _, m := range hist.GetMetric() {
		if m.GetLabel()[0].GetValue() != "forward" {
			continue
		}
		hg := m.GetHistogram()
		if hg.GetSampleCount() != 3 || hg.GetSampleSum() <= 0 {
			t.Errorf("forward stage: %d exchanges in %gs, want 3 in more than 0", hg.GetSampleCount(), hg.GetSampleSum())
		}
		last := hg.GetBucket()[len(hg.GetBucket())-1]
		if last.GetCumulativeCount() > hg.GetSampleCount() {
			t.Errorf("bucket le=%g counts %d of %d", last.GetUpperBound(), last.GetCumulativeCount(), hg.GetSampleCount())
		}
	}
}

// TestMetricsNegotiatesTheFormat: a scraper asking for the protocol-buffer format gets it,
// as promhttp serves it, with the same families; a scraper asking for nothing gets text.
func TestMetricsNegotiatesTheFormat(t *testing.T) {
	up := startUpstream(t, nil)
	gw := startGateway(t, testConfig(up.addr), Options{})
	do(t, "GET", gw.base+"/population/v1/persons", "", nil)

	accept := "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"
	status, h, body := do(t, "GET", gw.admin+"/metrics", "", map[string]string{"Accept": accept})
	if status != 200 || expfmt.ResponseFormat(h).FormatType() != expfmt.TypeProtoDelim {
		t.Fatalf("protobuf scrape: %d %q", status, h.Get("Content-Type"))
	}
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(h))
	names := map[string]bool{}
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decode protobuf: %v", err)
		}
		if names[mf.GetName()] {
			t.Errorf("family %s twice", mf.GetName())
		}
		names[mf.GetName()] = true
	}
	if !names["govgate_requests_total"] || !names["govgate_stage_duration_seconds"] {
		t.Errorf("protobuf families: %v", names)
	}

	req, _ := http.NewRequest("GET", gw.admin+"/metrics", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("a scraper that asks for nothing we speak gets %q, want the text format", ct)
	}
}

// familyCollector is a part's collector that exposes one gauge family with the labels
// given; a careless part that reuses a gateway family name, or a hostile one whose label
// is not UTF-8.
type familyCollector struct {
	desc  *prometheus.Desc
	label string
}

func newFamilyCollector(name, label string) *familyCollector {
	return &familyCollector{desc: prometheus.NewDesc(name, "A part's family.", []string{"x"}, nil), label: label}
}

func (c *familyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *familyCollector) Collect(ch chan<- prometheus.Metric) {
	m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, 1, c.label)
	if err != nil {
		m = prometheus.NewInvalidMetric(c.desc, err)
	}
	ch <- m
}

// TestNewRefusesADuplicateMetricFamily: a part that exposes a family the gateway (or another
// part) already exposes is refused when the gateway is built, not at the first scrape.
func TestNewRefusesADuplicateMetricFamily(t *testing.T) {
	cfg := testConfig("127.0.0.1:1")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := New(cfg, Options{Logger: quiet, Stages: Stages{Metrics: []prometheus.Collector{newFamilyCollector("govgate_requests_total", "a")}}})
	if err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Errorf("a part repeating govgate_requests_total: %v", err)
	}
	two := []prometheus.Collector{newFamilyCollector("govgate_part", "a"), newFamilyCollector("govgate_part", "b")}
	if _, err := New(cfg, Options{Logger: quiet, Stages: Stages{Metrics: two}}); err == nil {
		t.Error("two parts exposing one family were accepted")
	}
	if _, err := New(cfg, Options{Logger: quiet, Stages: Stages{Metrics: two[:1]}}); err != nil {
		t.Errorf("one part's own family refused: %v", err)
	}
}

// TestMetricsServeTheRestWhenOneSeriesFails: a series that cannot be exposed (its label is
// not UTF-8) is left out and logged; the operator still sees every other family.
func TestMetricsServeTheRestWhenOneSeriesFails(t *testing.T) {
	up := startUpstream(t, nil)
	part := newFamilyCollector("govgate_part", "\xff\xfe")
	gw := startGateway(t, testConfig(up.addr), Options{Stages: Stages{Metrics: []prometheus.Collector{part}}})
	status, _, body := do(t, "GET", gw.admin+"/metrics", "", nil)
	if status != 200 {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	fams := parseMetrics(t, body)
	if fams["govgate_part"] != nil {
		t.Errorf("the invalid series was exposed: %v", fams["govgate_part"])
	}
	if _, ok := sample(fams, "govgate_config_reloads_total", "result=ok"); !ok {
		t.Errorf("the gateway's own families are missing:\n%s", body)
	}
}
