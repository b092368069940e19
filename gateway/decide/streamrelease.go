package decide

import (
	"context"
	"errors"
	"time"

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
	vol, err := p.volumeMeter(ctx, x, d)
	if err != nil {
		return nil, err
	}
	if d.Opaque() {
		x.MarkReleasedWhole()
		if vol != nil {
			return rowCutter{c: passWhole{}, vol: vol}, nil
		}
		return nil, nil
	}
	if err := p.releaseValidators(ctx, x, d); err != nil {
		return nil, err
	}
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
	return rowCutter{c: c, vol: vol}, nil
}

// rowCutter gives the policy's release errors as the gateway's refusals, and counts what
// it releases against the agreement's daily volume when it has one.
type rowCutter struct {
	c   policy.RowCutter
	vol *volumeMeter
}

func (r rowCutter) Cut(dst, src []byte, final bool) ([]byte, int, int, error) {
	n := len(dst)
	out, used, rows, err := r.c.Cut(dst, src, final)
	if err != nil {
		return out, used, rows, releaseError(err)
	}
	// A window that releases nothing costs no count (nor, shared, a round trip), and does
	// not cut a transfer that ended exactly at the day's volume.
	if r.vol != nil && (rows > 0 || len(out) > n) {
		if err := r.vol.add(int64(rows), int64(len(out)-n)); err != nil {
			return dst, used, 0, err // none of this window's rows go out
		}
	}
	return out, used, rows, nil
}

// passWhole is the cutter of an opaque body whose volume is counted: every byte as it came.
type passWhole struct{}

func (passWhole) Cut(dst, src []byte, _ bool) ([]byte, int, int, error) {
	return append(dst, src...), len(src), 0, nil
}

// volumeMeter counts one transfer's release against its agreement's daily volume, one
// window at a time: a window is counted before it leaves, so the day's count is never
// below what was released.
type volumeMeter struct {
	ctx             context.Context
	v               policy.VolumeStore
	dept, agreement string
	quota           policy.Quota
}

// volumeMeter returns the meter of the exchange, nil when its agreement bounds no volume,
// or a refusal when the day's volume is already used up or the store cannot answer:
// nothing is started then.
func (p *PolicyStage) volumeMeter(ctx context.Context, x *gateway.Exchange, d *policy.Decision) (*volumeMeter, error) {
	if p.Volumes == nil || d.Agreement == "" || !d.Quota.Bounded() {
		return nil, nil
	}
	// Not cancelled with the server's shutdown: a shutdown is not the store failing to
	// answer (which would mark a shared store down); the store's timeout bounds each count.
	m := &volumeMeter{ctx: context.WithoutCancel(ctx), v: p.Volumes, dept: x.Identity.Dept, agreement: d.Agreement, quota: d.Quota}
	if err := m.add(0, 0); err != nil {
		return nil, err
	}
	return m, nil
}

// add counts one window; its error (a *gateway.Error) withholds the window.
func (m *volumeMeter) add(rows, bytes int64) error {
	u := policy.VolumeUse{Consumer: m.dept, Agreement: m.agreement, Quota: m.quota, At: time.Now(), Rows: rows, Bytes: bytes}
	v, err := m.v.AddVolume(m.ctx, u)
	switch {
	case err != nil:
		return gateway.Errorf(fasthttp.StatusServiceUnavailable, "quota_store_unavailable", "the volume store could not count this transfer's rows; they were withheld").WithCause(err)
	case !v.Allowed:
		return volumeError(v.Reason)
	}
	return nil
}

func volumeError(r policy.Reason) *gateway.Error {
	return &gateway.Error{Status: fasthttp.StatusTooManyRequests, Code: "quota_exceeded", Message: "the agreement's daily volume is used up",
		Reasons: []gateway.Reason{gateway.Reason(r)}}
}
