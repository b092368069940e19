package decide

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy"
)

// ReleaseStream is the release of a streamed transfer (gateway.StreamReleaser): the label
// is checked on the provider's head, before any byte of its body leaves; an opaque
// resource passes whole, anything else only as CSV or NDJSON cut row by row.
func (p *PolicyStage) ReleaseStream(ctx *fasthttp.RequestCtx, x *gateway.Exchange) (gateway.RowCutter, error) {
	d, _ := x.Decision.Detail.(*policy.Decision)
	if d == nil {
		return nil, errors.New("release: no policy decision for this exchange")
	}
	h := &ctx.Response.Header
	label, err := x.ProviderLabel()
	if err != nil {
		return nil, err
	}
	if err := d.CheckLabel(label); err != nil {
		return nil, releaseError(err)
	}
	h.Set(gateway.HeaderClassification, d.ReleasedLabel(label))
	if d.Opaque() {
		return nil, nil
	}
	gateway.DropResponseValidators(h)
	if x.Partial() {
		return nil, gateway.ReleaseRefusal(false, gateway.Reason{Code: "RESPONSE_PARTIAL", Message: "the provider answered with a part of its response (206 or Content-Range), and this resource is released only whole, row by row"})
	}
	if len(h.ContentEncoding()) > 0 {
		// Rows are cut from the bytes as they arrive; a coded body would have to be
		// decoded first, which streamed release does not do.
		return nil, gateway.ReleaseRefusal(false, gateway.Reason{Code: "RESPONSE_ENCODED", Message: "the provider's streamed body is content-coded, and this resource is released only row by row from plain CSV or NDJSON"})
	}
	mt := policy.TabularType(string(h.ContentType()))
	if mt == "" {
		return nil, gateway.ReleaseRefusal(false, gateway.Reason{Code: "RESPONSE_NOT_TABULAR", Message: "the provider's response is neither UTF-8 CSV (text/csv) nor NDJSON (application/x-ndjson, application/jsonl), and this resource is released only row by row"})
	}
	c, err := d.RowCutter(mt)
	if err != nil {
		return nil, releaseError(err)
	}
	return rowCutter{c}, nil
}

// rowCutter gives the policy's release errors as the gateway's refusals.
type rowCutter struct{ c policy.RowCutter }

func (r rowCutter) Cut(dst, src []byte, final bool) ([]byte, int, int, error) {
	out, used, rows, err := r.c.Cut(dst, src, final)
	if err != nil {
		return out, used, rows, releaseError(err)
	}
	return out, used, rows, nil
}
