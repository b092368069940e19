package gateway

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// newMetricsHandler registers the gateway's own collector and every stage's on a registry
// of this gateway (no process-wide default registry: two gateways in one process, as the
// tests run them, keep their metrics apart) and serves it the way promhttp does: content
// negotiation (text 0.0.4, protobuf), gzip, and the families a collector could gather
// when another failed. A collector that repeats a family another registered is refused
// here, at construction, rather than at the first scrape.
func newMetricsHandler(log *slog.Logger, own prometheus.Collector, parts []prometheus.Collector) (fasthttp.RequestHandler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range append([]prometheus.Collector{own}, parts...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics of %T: %w", c, err)
		}
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: promLogger{log},
		// One series a part cannot render (a label value that is not UTF-8) must not hide
		// every other metric from the operator; the error is logged.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return fasthttpadaptor.NewFastHTTPHandler(h), nil
}

// promLogger is promhttp's logger on the gateway's slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Warn("metrics: " + fmt.Sprint(v...))
}
