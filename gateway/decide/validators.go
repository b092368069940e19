package decide

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy"
)

// conditionalCut reports whether the exchange's validators are the gateway's own (its
// released ETag, gateway/streamvalidators.go): a resource released by fields on a publish
// route, read with GET or HEAD, by a stage that seals its tags (PolicyStage.Tags). Elsewhere a cut resource carries no validator at all.
func (p *PolicyStage) conditionalCut(ctx *fasthttp.RequestCtx, x *gateway.Exchange, d *policy.Decision) bool {
	return p.Tags != nil && !d.Opaque() && x.Route != nil && x.Route.Mode == gateway.ModePublish && (ctx.IsGet() || ctx.IsHead())
}

// dropWholeDocumentConditions removes the consumer's Range and conditions on the
// provider's whole document from a request for a resource released by fields and, on a
// publish route, forwards as If-None-Match the provider's tags recovered from the
// consumer's tags of its release profile now.
func (p *PolicyStage) dropWholeDocumentConditions(ctx *fasthttp.RequestCtx, x *gateway.Exchange, d *policy.Decision) error {
	h := &ctx.Request.Header
	var inm []byte
	if p.conditionalCut(ctx, x, d) {
		inm = p.Tags.ReleasedConditions(h, d.ReleaseProfile())
	}
	if !gateway.DropRangeRequest(h) {
		return errors.New("decide: Range or a condition could not be removed from the request") // 503, fail closed
	}
	if len(inm) > 0 {
		h.SetBytesV(fasthttp.HeaderIfNoneMatch, inm)
	}
	return nil
}

// releaseValidators gives a response of a resource released by fields the gateway's
// validators on a publish route, and none elsewhere.
func (p *PolicyStage) releaseValidators(ctx *fasthttp.RequestCtx, x *gateway.Exchange, d *policy.Decision) error {
	if !p.conditionalCut(ctx, x, d) {
		gateway.DropResponseValidators(&ctx.Response.Header)
		return nil
	}
	return p.Tags.ReleaseValidators(&ctx.Response.Header, &ctx.Request.Header, d.ReleaseProfile())
}
