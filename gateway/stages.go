package gateway

import (
	"io"
	"net"

	"github.com/valyala/fasthttp"
)

// The stages every exchange passes, in order. Route and forward are the proxy's own work;
// the others are supplied by the packages that own them (crypto for identity, policy for
// decisions and release, audit for the record) through Stages.
const (
	StageAuthenticate = "authenticate"
	StageRoute        = "route"
	StageDecide       = "decide"
	StageForward      = "forward"
	StageRelease      = "release"
	StageAudit        = "audit"
)

// Authenticator establishes who the peer is. It returns an *Error to refuse the request
// (typically 401), and fills x.Identity on success. It runs before routing, so a caller it
// refuses never learns which routes exist.
type Authenticator interface {
	Authenticate(ctx *fasthttp.RequestCtx, x *Exchange) error
}

// Decider evaluates the policy for the routed exchange and fills x.Decision. A deny is
// returned as an *Error with status 403 and the decision's reason codes; any other error
// means the policy could not be evaluated, and the exchange is refused (fail closed).
type Decider interface {
	Decide(ctx *fasthttp.RequestCtx, x *Exchange) error
}

// Releaser inspects the upstream's response in ctx.Response before it leaves: label checks,
// field filtering. It returns an *Error to withhold the response.
type Releaser interface {
	Release(ctx *fasthttp.RequestCtx, x *Exchange) error
}

// Auditor makes the record of the finished exchange (allowed or refused) durable and
// returns the receipt to send with the response. An error refuses the exchange with 503:
// nothing leaves the gateway without its record.
type Auditor interface {
	Audit(ctx *fasthttp.RequestCtx, x *Exchange) (receipt []byte, err error)
}

// ListenerProvider wraps a bound TCP listener in a transport (TLS, TLCP). The crypto and
// certs packages supply these; a config naming a transport without a provider is refused
// at start.
type ListenerProvider interface {
	Wrap(ln net.Listener, l Listener) (net.Listener, error)
}

// CatalogServer answers CatalogPath for an authenticated caller: the shared resources it
// may see, the 共享信息目录 in machine-readable form.
type CatalogServer interface {
	ServeCatalog(ctx *fasthttp.RequestCtx, x *Exchange) error
}

// CatalogPath is where every listener serves the catalog.
const CatalogPath = "/.well-known/govgate/catalog"

// MetricsWriter adds a stage's own metrics to /metrics, in Prometheus text format.
type MetricsWriter interface {
	WriteMetrics(w io.Writer)
}

// WarningReporter is a part that can run degraded: it still serves, but an operator should
// know — a key store that cannot be reached while cached keys are in use. /readyz lists
// warnings without failing readiness: taking the gateway out would not bring the store back.
type WarningReporter interface {
	Warning() string
}

// Stages is what plugs into the pipeline. A nil field is an absent stage.
type Stages struct {
	Authenticate Authenticator
	Decide       Decider
	Release      Releaser
	Audit        Auditor
	Catalog      CatalogServer
	Transports   map[Transport]ListenerProvider
	// Admin adds endpoints to the admin API.
	Admin []AdminHandler
	// Metrics add to /metrics.
	Metrics []MetricsWriter
	// Degraded names the parts /readyz asks for warnings.
	Degraded map[string]WarningReporter
}

// Absent lists the pluggable stages that are not supplied, in pipeline order.
func (s Stages) Absent() []string {
	var out []string
	if s.Authenticate == nil {
		out = append(out, StageAuthenticate)
	}
	if s.Decide == nil {
		out = append(out, StageDecide)
	}
	if s.Release == nil {
		out = append(out, StageRelease)
	}
	if s.Audit == nil {
		out = append(out, StageAudit)
	}
	return out
}
