package gateway

import (
	"net"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// Stage is one of the stages every exchange passes. Route and forward are the proxy's own
// work; the others are plugged in through Stages by adapters — gateway/identity,
// gateway/decide, gateway/record — which gateway/assemble puts together.
type Stage uint8

// The stages, in pipeline order.
const (
	StageAuthenticate Stage = iota
	StageRoute
	StageDecide
	StageForward
	StageRelease
	StageAudit
	numStages
)

var stageNames = [numStages]string{"authenticate", "route", "decide", "forward", "release", "audit"}

// String is the stage's name in metrics (stage="decide"), /readyz and error codes
// (decide_unavailable).
func (s Stage) String() string {
	if s < numStages {
		return stageNames[s]
	}
	return "stage" + strconv.Itoa(int(s))
}

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
// appends the receipt to send with the response to receipt (the exchange's room, reused
// from one request to the next, so that a receipt is not an allocation), returning it.
// An error refuses the exchange with 503: nothing leaves the gateway without its record.
type Auditor interface {
	Audit(ctx *fasthttp.RequestCtx, x *Exchange, receipt []byte) ([]byte, error)
}

// ListenerProvider wraps a bound TCP listener in a transport: TLCPTransport (over
// crypto/tlcp), certs.TLSTransport. It takes the listener alone, so that a transport needs
// nothing of this package; a config naming a transport without a provider is refused at
// start.
type ListenerProvider interface {
	Wrap(ln net.Listener) (net.Listener, error)
}

// CatalogServer answers CatalogPath for an authenticated caller: the shared resources it
// may see, the 共享信息目录 in machine-readable form.
type CatalogServer interface {
	ServeCatalog(ctx *fasthttp.RequestCtx, x *Exchange) error
}

// CatalogPath is where every listener serves the catalog.
const CatalogPath = wire.PathCatalog

// ProofServer answers the audit paths of a data listener (wire.PathCheckpoint,
// wire.PathInclusionProof) for an authenticated caller: the signed checkpoint, and inclusion
// proofs of the caller's own records only — so that a department checks its receipts
// without the admin API.
type ProofServer interface {
	ServeProof(ctx *fasthttp.RequestCtx, x *Exchange) error
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
	Proofs       ProofServer
	Transports   map[Transport]ListenerProvider
	// Admin adds endpoints to the admin API.
	Admin []AdminHandler
	// Metrics add to /metrics: each part's collector reads its own counters at scrape
	// time; the gateway registers them with its own (New refuses a family two of them
	// expose).
	Metrics []prometheus.Collector
	// Degraded names the parts /readyz asks for warnings.
	Degraded map[string]WarningReporter
	// Parts names what /readyz asks besides the stages (the shared state): a part not
	// ready makes the gateway not ready.
	Parts map[string]ReadyChecker
}

// Absent lists the pluggable stages that are not supplied, in pipeline order.
func (s Stages) Absent() []string {
	var out []string
	if s.Authenticate == nil {
		out = append(out, StageAuthenticate.String())
	}
	if s.Decide == nil {
		out = append(out, StageDecide.String())
	}
	if s.Release == nil {
		out = append(out, StageRelease.String())
	}
	if s.Audit == nil {
		out = append(out, StageAudit.String())
	}
	return out
}
