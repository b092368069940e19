package decide

import (
	"errors"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/policy/bundle"
)

// PolicyStage is the decide and release stages on the policy engine: one evaluation per
// exchange, the agreement's quota, then the label check and field filtering of the
// response. It also serves the catalog a department may see.
type PolicyStage struct {
	Engine *policy.Engine
	// Quotas counts admitted exchanges: in memory (policy.Quotas) or shared by a fleet.
	Quotas policy.QuotaStore
	// Bundle, when the policy comes from a signed bundle, is its poller: /policy shows
	// the live revision's bundle and signer.
	Bundle *bundle.Poller
	// Volumes counts the rows and bytes streamed transfers release (streamrelease.go): in
	// memory (policy.Volumes) or shared by a fleet; nil leaves volume quotas unenforced.
	Volumes policy.VolumeStore
	// Tags seals the provider's ETag into the gateway's ETag of a cut on a publish route
	// (gateway/streamvalidators.go); nil: cuts carry no validator and no condition is
	// forwarded.
	Tags *gateway.TagSealer

	// bodies are buffers for released JSON bodies (*[]byte): each response's cut is
	// written into one and swapped into the response for the provider's body, whose
	// buffer comes back here — the cut was half the bytes an exchange allocated.
	bodies sync.Pool
}

// maxKeptBody bounds the body buffers kept for reuse: a large response's goes to the
// collector rather than staying with the gateway.
const maxKeptBody = 64 << 10

// NewPolicyStage returns the stages over engine, with fresh quota counters and a fresh
// ETag sealer (none when the system's random source fails: cuts then carry no validator).
func NewPolicyStage(engine *policy.Engine) *PolicyStage {
	tags, _ := gateway.NewTagSealer()
	return &PolicyStage{Engine: engine, Quotas: policy.NewQuotas(), Volumes: policy.NewVolumes(), Tags: tags}
}

// Decide evaluates data.govgate.authz.decision for the exchange. A deny is a 403 with the
// decision's reasons; an evaluation error refuses the exchange through stageError (503).
func (p *PolicyStage) Decide(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	live := p.Engine.Current()
	readsQuery := live.Revision().ReadsQuery()
	if readsQuery {
		if err := gateway.RefuseAmbiguousQuery(ctx.QueryArgs()); err != nil {
			return err
		}
	}
	in := policyInput(ctx, x, readsQuery)
	d, err := live.Decide(ctx, &in)
	if err != nil {
		return err
	}
	x.Decision = gateway.Decision{Evaluated: true, Allow: d.Allow, Detail: d}
	if !d.Allow {
		return &gateway.Error{Status: fasthttp.StatusForbidden, Code: "denied", Message: "the sharing policy refused this exchange", Reasons: reasons(d.Reasons)}
	}
	// The shipped policy denies this itself; checking again here keeps a policy that forgot
	// to from waving an unsigned request through.
	if d.RequireSignature && !x.Identity.Signed {
		return gateway.Errorf(fasthttp.StatusUnauthorized, "signature_required", "this exchange requires an SM2 request signature (Signature-Input, Signature, Content-Digest)")
	}
	// A filtered resource is cut on its whole document; a part of it is not one.
	if !d.Opaque() {
		if err := p.dropWholeDocumentConditions(ctx, x, d); err != nil {
			return err
		}
	}
	if d.Agreement != "" {
		v, err := p.Quotas.CountUse(ctx, quotaUse(x, d))
		if err != nil {
			return gateway.Errorf(fasthttp.StatusServiceUnavailable, "quota_store_unavailable", "the quota store could not count this exchange; it was refused").WithCause(err)
		}
		if !v.Allowed {
			return &gateway.Error{Status: fasthttp.StatusTooManyRequests, Code: "quota_exceeded", Message: "the agreement's quota is used up",
				Reasons: []gateway.Reason{gateway.Reason(v.Reason)}, RetryAfter: v.RetryAfter}
		}
	}
	return nil
}

func policyInput(ctx *fasthttp.RequestCtx, x *gateway.Exchange, withQuery bool) policy.Input {
	in := policy.Input{
		Subject: policy.Subject{
			Dept: x.Identity.Dept, System: x.Identity.System, CertSerial: x.Identity.CertSerial,
			Auth: x.Identity.Auth, Signed: x.Identity.Signed,
		},
		Request: policy.Request{
			Method: string(ctx.Method()), Path: string(ctx.Path()),
			Purpose: string(x.Purpose), Agreement: string(x.Agreement),
		},
		Route: policy.Route{
			ID: x.Route.ID, Mode: string(x.Route.Mode),
			SourceZone: string(x.Listener.Zone), TargetZone: string(x.Route.TargetZone),
		},
		Resource: x.Route.Resource,
		Time:     x.Start,
	}
	if withQuery {
		args := ctx.QueryArgs()
		in.Request.Query = make(map[string]string, args.Len())
		for k, v := range args.All() {
			if _, seen := in.Request.Query[string(k)]; !seen {
				in.Request.Query[string(k)] = string(v)
			}
		}
	}
	return in
}

// Release checks the response's label and cuts a JSON body down to the decision's fields,
// masked as its obligations say. A response it cannot release is withheld: 403 when the
// consumer may not have it, 502 when the provider sent what cannot be released.
func (p *PolicyStage) Release(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	d, _ := x.Decision.Detail.(*policy.Decision)
	if d == nil {
		return errors.New("release: no policy decision for this exchange")
	}
	resp := &ctx.Response
	label, err := x.ProviderLabel()
	if err != nil {
		return err // a refusal (gateway.ReleaseRefusal)
	}
	if err := d.CheckLabel(label); err != nil {
		return releaseError(err)
	}
	if resp.StatusCode() != fasthttp.StatusNotModified || label != "" {
		resp.Header.Set(gateway.HeaderClassification, d.ReleasedLabel(label))
	}
	// else: a 304 carries no content, and the provider stated no label. The copy the
	// consumer holds keeps the label its 200 was released with; a cache updates its stored
	// fields from a 304 (RFC 9111 4.3.4), so the catalog's label written here would lower
	// the label of a copy the provider had labelled higher.
	if d.Opaque() {
		return nil
	}
	if err := p.releaseValidators(ctx, x, d); err != nil {
		return err
	}
	if x.Partial() {
		// Range and If-Range were removed before forwarding (Decide), so a part is a
		// provider that ignored that; a part filtered as the whole would be re-rooted.
		return gateway.ReleaseRefusal(false, gateway.Reason{Code: "RESPONSE_PARTIAL", Message: "the provider answered with a part of its response (206 or Content-Range), and this resource is released only whole, field by field"})
	}
	if len(resp.Body()) == 0 {
		// Nothing to filter: a HEAD, a 304, a 204. The provider's Content-Length is then the
		// length of the unfiltered body (a HEAD's or 304's describes the GET's), and its
		// difference from the filtered GET measures the withheld fields; its
		// Content-Encoding is that body's too, while the filtered GET goes out unencoded.
		// Both are dropped, and none is written in their place: the filtered length is not
		// known without the body, and RFC 9110 8.6 lets a HEAD or 304 answer without a
		// length but not with a false one. fasthttp's server writes no Content-Length for
		// a response without a body that has none set (HEAD and 304 included), and
		// Content-Length: 0 for an empty GET, which is then the truth.
		resp.Header.Del(fasthttp.HeaderContentLength)
		resp.Header.Del(fasthttp.HeaderContentEncoding)
		return nil
	}
	if !policy.IsJSON(string(resp.Header.ContentType())) {
		return gateway.ReleaseRefusal(false, gateway.Reason{Code: "RESPONSE_NOT_JSON", Message: "the provider's response is not JSON, and this resource is released only field by field"})
	}
	body, err := gateway.UncompressedBody(ctx, x)
	if err != nil {
		return err
	}
	buf, _ := p.bodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	out, err := d.AppendFilteredJSON((*buf)[:0], body)
	if err != nil {
		p.keepBody(buf)
		return releaseError(err)
	}
	resp.Header.Del(fasthttp.HeaderContentEncoding)
	if cap(out) > maxKeptBody && cap(out) > 2*len(out) {
		// Grown for a body far larger than its cut — a decoded one, up to
		// limits.max_decompressed_bytes: swapped in, that room would outlive the exchange
		// in fasthttp's body pool, where the release budget no longer counts it. The cut
		// is copied instead, and the room goes to the collector.
		resp.SetBody(out)
		p.keepBody(buf)
		return nil
	}
	// The provider's body (which body may be) is not read after this: its buffer is
	// the next response's.
	*buf = resp.SwapBody(out)
	p.keepBody(buf)
	return nil
}

// keepBody returns a body buffer to the pool unless it grew past maxKeptBody.
func (p *PolicyStage) keepBody(buf *[]byte) {
	if cap(*buf) <= maxKeptBody {
		p.bodies.Put(buf)
	}
}

// releaseError is the refusal of a response the policy would not release.
func releaseError(err error) *gateway.Error {
	var re *policy.ReleaseError
	if !errors.As(err, &re) {
		return gateway.Errorf(fasthttp.StatusBadGateway, "release_refused", "the response could not be released").WithCause(err)
	}
	return gateway.ReleaseRefusal(re.Denied, gateway.Reason(re.Reason))
}

// reasons is a decision's reasons as refusals carry them.
func reasons(rs []policy.Reason) []gateway.Reason {
	out := make([]gateway.Reason, len(rs))
	for i, r := range rs {
		out[i] = gateway.Reason(r)
	}
	return out
}

// ServeCatalog answers GET /.well-known/govgate/catalog with the catalog entries the
// authenticated caller may see from this listener's zone.
func (p *PolicyStage) ServeCatalog(ctx *fasthttp.RequestCtx, x *gateway.Exchange) error {
	body, err := p.Engine.CatalogEntries(ctx, x.Identity.Dept, string(x.Listener.Zone))
	var unregistered *policy.UnregisteredError
	if errors.As(err, &unregistered) {
		// Said as the decide stage says it of an exchange (authz.rego's DEPT_UNKNOWN).
		return &gateway.Error{Status: fasthttp.StatusForbidden, Code: "denied", Message: "the sharing policy refused this catalog read",
			Reasons: []gateway.Reason{{Code: "DEPT_UNKNOWN", Message: unregistered.Error()}}}
	}
	if err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(body)
	return nil
}

// Ready reports whether a revision is loaded; New refuses to start without one, so this
// only fails for a stage built by hand without an engine.
func (p *PolicyStage) Ready() error {
	if p.Engine == nil || p.Engine.Current() == nil {
		return errors.New("no policy revision loaded")
	}
	return nil
}

// GiveBack returns the request Decide counted against the decision's agreement
// (gateway.QuotaGiver).
// A give-back that fails keeps the count: the safe side.
func (p *PolicyStage) GiveBack(ctx *fasthttp.RequestCtx, x *gateway.Exchange) {
	d, _ := x.Decision.Detail.(*policy.Decision)
	if p.Quotas == nil || d == nil || !d.Allow || d.Agreement == "" {
		return
	}
	_ = p.Quotas.ReturnUse(ctx, quotaUse(x, d))
}

// quotaUse is the exchange's use of its agreement's quota.
func quotaUse(x *gateway.Exchange, d *policy.Decision) policy.QuotaUse {
	return policy.QuotaUse{Consumer: x.Identity.Dept, Agreement: d.Agreement, Quota: d.Quota, At: x.Start}
}
