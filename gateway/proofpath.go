package gateway

import (
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/wire"
)

// isProofPath reports whether path is one of the audit paths a data listener answers.
func isProofPath(path []byte) bool {
	p := string(path)
	return p == wire.PathCheckpoint || p == wire.PathInclusionProof
}

// serveProof answers a department's request for the log's checkpoint or an inclusion
// proof of one of its records: not routed, but authenticated (the ProofServer refuses a
// caller without a department) and audited like every exchange.
func (g *Gateway) serveProof(ctx *fasthttp.RequestCtx, x *Exchange) *Error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return Errorf(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "audit proofs are read with GET")
	}
	if err := g.stages.Proofs.ServeProof(ctx, x); err != nil {
		return stageError(StageAudit, err)
	}
	return nil
}
