package gateway

import (
	"fmt"
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// CertificateLister is a part that holds certificates: the TLCP source, a tls transport.
type CertificateLister interface {
	Certificates(now time.Time) []CertInfo
	Refused() int
	Warning() string
}

// CertsStage reports the certificates the gateway holds: GET /certs on the admin API and
// their days to expiry as a metric.
type CertsStage struct {
	Sources []CertificateLister
}

func (c *CertsStage) all(now time.Time) []CertInfo {
	var out []CertInfo
	for _, s := range c.Sources {
		out = append(out, s.Certificates(now)...)
	}
	return out
}

// AdminHandlers serves GET /certs.
func (c *CertsStage) AdminHandlers() []AdminHandler {
	return []AdminHandler{{Role: RoleCryptoAdmin, Method: fasthttp.MethodGet, Path: "/certs", Handler: func(ctx *fasthttp.RequestCtx) {
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"certificates": c.all(time.Now())})
	}}}
}

// WriteMetrics adds days to expiry per certificate and the count of refused reloads.
func (c *CertsStage) WriteMetrics(w io.Writer) {
	writeMetricHeader(w, "govgate_cert_days_to_expiry", "gauge", "Days until a certificate the gateway holds expires.")
	for _, ci := range c.all(time.Now()) {
		fmt.Fprintf(w, "govgate_cert_days_to_expiry{role=%q,serial=%q} %d\n", ci.Role, ci.Serial, ci.DaysLeft)
	}
	writeMetricHeader(w, "govgate_cert_reloads_refused_total", "counter", "New certificates, keys or CRLs refused; the running ones stayed.")
	refused, stale := 0, 0
	for _, s := range c.Sources {
		refused += s.Refused()
		if s.Warning() != "" {
			stale = 1
		}
	}
	fmt.Fprintf(w, "govgate_cert_reloads_refused_total %d\n", refused)
	writeMetricHeader(w, "govgate_key_store_unreachable", "gauge", "Whether the key store could not be read at the last poll (1): cached keys are in use.")
	fmt.Fprintf(w, "govgate_key_store_unreachable{component=\"certs\"} %d\n", stale)
}
