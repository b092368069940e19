package record

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/wire"
)

// ServeProof implements gateway.ProofServer: on a data listener, the log's latest signed
// checkpoint and inclusion proofs of the caller's own records, so that a department checks
// its receipts where it calls, without the admin API (which production keeps on an
// administrators' TLCP listener). A proof of another department's record is answered
// exactly as a record that does not exist: its index is not confirmed.
func (a *AuditStage) ServeProof(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	if x.Identity.Dept == "" {
		// A listener without an authenticate stage: every record without a department
		// would be the caller's.
		return gateway.Errorf(fasthttp.StatusUnauthorized, "unauthenticated", "audit proofs are served to an authenticated department only")
	}
	switch string(ctx.Path()) {
	case wire.PathCheckpoint:
		return a.serveDeptCheckpoint(ctx)
	case wire.PathInclusionProof:
		return a.serveDeptInclusion(ctx, x.Identity.Dept)
	}
	return gateway.Errorf(fasthttp.StatusNotFound, "not_found", "no such audit path")
}

func (a *AuditStage) serveDeptCheckpoint(ctx *fasthttp.RequestCtx) error {
	c := a.Log.Checkpoint()
	if c == nil {
		return gateway.Errorf(fasthttp.StatusNotFound, "no_checkpoint", "no checkpoint has been signed yet")
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(c.Note)
	return nil
}

func (a *AuditStage) serveDeptInclusion(ctx *fasthttp.RequestCtx, dept string) error {
	index, err := queryUint(ctx, "index")
	if err != nil {
		return err
	}
	size, err := queryUint(ctx, "size")
	if err != nil {
		return err
	}
	// Ownership before anything about size: another department's index and a missing one
	// get the same answer whatever else the request says.
	if !a.recordOf(index, dept) {
		return gateway.Errorf(fasthttp.StatusNotFound, "not_found", "no record of your department at index %d", index)
	}
	p, err := a.Log.InclusionProof(index, size)
	if err != nil {
		return gateway.Errorf(fasthttp.StatusBadRequest, "bad_request", "%s", err.Error())
	}
	gateway.WriteJSON(ctx, fasthttp.StatusOK, proofBody{Index: &index, Size: size, Hashes: encodeHashes(p)})
	return nil
}

// recordOf reports whether record index exists and is a data record of dept. Admin records
// are not a department's receipts (an administrator's certificate names a department too).
func (a *AuditStage) recordOf(index uint64, dept string) bool {
	b, err := a.Log.Record(index)
	if err != nil {
		return false
	}
	r, err := audit.ParseRecord(b)
	return err == nil && r.Kind.Sharing() && r.Consumer.Dept == dept
}

func queryUint(ctx *fasthttp.RequestCtx, name string) (uint64, error) {
	// Two values would let the ownership check and a proxy in front read different ones.
	if len(ctx.QueryArgs().PeekMulti(name)) > 1 {
		return 0, gateway.Errorf(fasthttp.StatusBadRequest, "ambiguous_query", "query parameter %s is given more than once", name)
	}
	v, err := strconv.ParseUint(string(ctx.QueryArgs().Peek(name)), 10, 64)
	if err != nil {
		return 0, gateway.Errorf(fasthttp.StatusBadRequest, "bad_request", "query parameter %s must be a non-negative integer", name)
	}
	return v, nil
}

// isProofRead reports whether a request neither routed nor refused was a proof read.
func isProofRead(ctx *fasthttp.RequestCtx) bool {
	p := string(ctx.Path())
	return p == wire.PathCheckpoint || p == wire.PathInclusionProof
}
