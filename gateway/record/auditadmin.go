package record

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
)

// AdminHandlers are the audit endpoints of the admin API: the latest signed checkpoint,
// inclusion and consistency proofs, and single records.
func (a *AuditStage) AdminHandlers() []gateway.AdminHandler {
	return []gateway.AdminHandler{
		{Role: gateway.RoleAuditor, Method: fasthttp.MethodGet, Path: "/audit/checkpoint", Handler: a.serveCheckpoint},
		{Role: gateway.RoleAuditor, Method: fasthttp.MethodGet, Path: "/audit/proof/inclusion", Handler: a.serveInclusion},
		{Role: gateway.RoleAuditor, Method: fasthttp.MethodGet, Path: "/audit/proof/consistency", Handler: a.serveConsistency},
		{Role: gateway.RoleAuditor, Method: fasthttp.MethodGet, Path: "/audit/records/", Prefix: true, Handler: a.serveRecord},
	}
}

func (a *AuditStage) serveCheckpoint(ctx *fasthttp.RequestCtx) {
	c := a.Log.Checkpoint()
	if c == nil {
		gateway.AdminError(ctx, fasthttp.StatusNotFound, "no_checkpoint", "no checkpoint has been signed yet")
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(c.Note)
}

// uintArg reads a non-negative integer query parameter, or reports why not.
func uintArg(ctx *fasthttp.RequestCtx, name string) (uint64, bool) {
	v, err := strconv.ParseUint(string(ctx.QueryArgs().Peek(name)), 10, 64)
	if err != nil {
		gateway.AdminError(ctx, fasthttp.StatusBadRequest, "bad_request", "query parameter "+name+" must be a non-negative integer")
		return 0, false
	}
	return v, true
}

// proofBody is the JSON of a proof: base64 hashes, as in the C2SP tlog-tiles conventions.
type proofBody struct {
	Index  *uint64  `json:"index,omitempty"`
	From   *uint64  `json:"from,omitempty"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

func encodeHashes(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func (a *AuditStage) serveInclusion(ctx *fasthttp.RequestCtx) {
	index, ok := uintArg(ctx, "index")
	if !ok {
		return
	}
	size, ok := uintArg(ctx, "size")
	if !ok {
		return
	}
	p, err := a.Log.InclusionProof(index, size)
	if err != nil {
		gateway.AdminError(ctx, fasthttp.StatusBadRequest, "bad_request", err.Error())
		return
	}
	gateway.WriteJSON(ctx, fasthttp.StatusOK, proofBody{Index: &index, Size: size, Hashes: encodeHashes(p)})
}

func (a *AuditStage) serveConsistency(ctx *fasthttp.RequestCtx) {
	from, ok := uintArg(ctx, "from")
	if !ok {
		return
	}
	to, ok := uintArg(ctx, "to")
	if !ok {
		return
	}
	p, err := a.Log.ConsistencyProof(from, to)
	if err != nil {
		gateway.AdminError(ctx, fasthttp.StatusBadRequest, "bad_request", err.Error())
		return
	}
	gateway.WriteJSON(ctx, fasthttp.StatusOK, proofBody{From: &from, Size: to, Hashes: encodeHashes(p)})
}

func (a *AuditStage) serveRecord(ctx *fasthttp.RequestCtx) {
	index, err := strconv.ParseUint(strings.TrimPrefix(string(ctx.Path()), "/audit/records/"), 10, 64)
	if err != nil {
		gateway.AdminError(ctx, fasthttp.StatusBadRequest, "bad_request", "want /audit/records/<index>")
		return
	}
	rec, err := a.Log.Record(index)
	if err != nil {
		gateway.AdminError(ctx, fasthttp.StatusNotFound, "not_found", err.Error())
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(rec)
}
