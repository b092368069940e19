package gateway

import (
	"fmt"
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// CertsStage reports the certificates the gateway holds: GET /certs on the admin API and
// their days to expiry as a metric.
type CertsStage struct {
	Source *TLCPSource
}

// AdminHandlers serves GET /certs.
func (c *CertsStage) AdminHandlers() []AdminHandler {
	return []AdminHandler{{Role: RoleCryptoAdmin, Method: fasthttp.MethodGet, Path: "/certs", Handler: func(ctx *fasthttp.RequestCtx) {
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"certificates": c.Source.Certificates(time.Now())})
	}}}
}

// WriteMetrics adds days to expiry per certificate and the count of refused reloads.
func (c *CertsStage) WriteMetrics(w io.Writer) {
	fmt.Fprintln(w, "# HELP govgate_cert_days_to_expiry Days until a certificate the gateway holds expires.")
	fmt.Fprintln(w, "# TYPE govgate_cert_days_to_expiry gauge")
	for _, ci := range c.Source.Certificates(time.Now()) {
		fmt.Fprintf(w, "govgate_cert_days_to_expiry{role=%q,serial=%q} %d\n", ci.Role, ci.Serial, ci.DaysLeft)
	}
	fmt.Fprintln(w, "# HELP govgate_cert_reloads_refused_total New certificates, keys or CRLs refused; the running ones stayed.")
	fmt.Fprintln(w, "# TYPE govgate_cert_reloads_refused_total counter")
	fmt.Fprintf(w, "govgate_cert_reloads_refused_total %d\n", c.Source.Refused())
	stale := 0
	if c.Source.Warning() != "" {
		stale = 1
	}
	fmt.Fprintln(w, "# HELP govgate_key_store_unreachable Whether the key store could not be read at the last poll (1): cached keys are in use.")
	fmt.Fprintln(w, "# TYPE govgate_key_store_unreachable gauge")
	fmt.Fprintf(w, "govgate_key_store_unreachable{component=\"tlcp\"} %d\n", stale)
}
