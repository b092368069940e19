package certs

import (
	"fmt"
	"io"
	"time"

	"github.com/govgate/govgate/crypto"
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

// WriteMetrics adds days to expiry per certificate and the count of refused reloads.
func (c *Lister) WriteMetrics(w io.Writer) {
	metricHeader(w, "govgate_cert_days_to_expiry", "gauge", "Days until a certificate the gateway holds expires.")
	for _, ci := range c.All(time.Now()) {
		fmt.Fprintf(w, "govgate_cert_days_to_expiry{role=%q,serial=%q} %d\n", ci.Role, ci.Serial, ci.DaysLeft)
	}
	metricHeader(w, "govgate_cert_reloads_refused_total", "counter", "New certificates, keys or CRLs refused; the running ones stayed.")
	refused, stale := 0, 0
	for _, s := range c.Holders {
		refused += s.Refused()
		if s.Warning() != "" {
			stale = 1
		}
	}
	fmt.Fprintf(w, "govgate_cert_reloads_refused_total %d\n", refused)
	metricHeader(w, "govgate_key_store_unreachable", "gauge", "Whether the key store could not be read at the last poll (1): cached keys are in use.")
	fmt.Fprintf(w, "govgate_key_store_unreachable{component=\"certs\"} %d\n", stale)
}

// metricHeader starts a metric family in the Prometheus text format.
func metricHeader(w io.Writer, name, kind, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}
