package decide

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/govgate/govgate/internal/metric"
)

// BundleCollector returns the policy bundle poller's metrics (nil without a bundle): polls
// by result, and whether the latest poll was refused, so that an alert fires on a fleet
// member that keeps an old revision because its bundles do not verify.
func (p *PolicyStage) BundleCollector() prometheus.Collector {
	if p.Bundle == nil {
		return nil
	}
	d := prometheus.NewDesc
	return &bundleCollector{
		p:       p,
		polls:   d("govgate_policy_bundle_polls_total", "Policy bundle polls by result: fetched (verified, new), not_modified (304), refused (did not verify or could not be fetched).", []string{"result"}, nil),
		failing: d("govgate_policy_bundle_failing", "Whether the latest policy bundle poll was refused (1): the live revision may be older than the bundle server's.", nil, nil),
		revoked: d("govgate_policy_bundle_signer_revoked", "Whether the CRL (read again at each poll) revokes the signer of the live policy revision (1): it keeps serving until an officer signs a new bundle.", nil, nil),
	}
}

type bundleCollector struct {
	p                       *PolicyStage
	polls, failing, revoked *prometheus.Desc
}

func (c *bundleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.polls
	ch <- c.failing
	ch <- c.revoked
}

func (c *bundleCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Bundle.Status(c.p.Engine.Revision().ID)
	ch <- metric.Const(c.polls, prometheus.CounterValue, float64(s.Fetches), "fetched")
	ch <- metric.Const(c.polls, prometheus.CounterValue, float64(s.NotModified), "not_modified")
	ch <- metric.Const(c.polls, prometheus.CounterValue, float64(s.Refused), "refused")
	ch <- metric.Const(c.failing, prometheus.GaugeValue, metric.Flag(s.LastError != ""))
	ch <- metric.Const(c.revoked, prometheus.GaugeValue, metric.Flag(s.SignerRevoked))
}
