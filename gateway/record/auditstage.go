package record

import (
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/metric"
	"github.com/govgate/govgate/policy"
	"github.com/govgate/govgate/wire"
)

// AuditStage records every exchange in the audit log and returns its receipt. It returns
// only once the record is durable; if it cannot be made durable, the exchange is refused.
type AuditStage struct {
	Log       *audit.Log
	GatewayID string
	commits   gateway.Histogram
	records   sync.Pool // of *pendingRecord: Append keeps nothing of a record
	// catalogMismatches counts complete transfers of published datasets that contradicted
	// the catalog's version or size (catalogcheck.go).
	catalogMismatches atomic.Int64
}

// pendingRecord is a record being appended, with room for what it holds that is not the
// exchange's own bytes: its parts a record points to, the client's address and the
// decision's reason codes are reused, not allocated per exchange. record sets every part
// it points to whole, and Audit clears the record: nothing of one exchange reaches the
// next one's record.
type pendingRecord struct {
	rec       audit.Record
	digest    [2 * crypto.DigestSize]byte // ResponseDigest's hex
	client    []byte                      // Client's text
	reasons   []string                    // Decision.Reasons
	fields    []string                    // Fields, when a part of the decision's
	decision  audit.Decision
	signature audit.Signature
	transfer  audit.Transfer
}

// reset drops what the record held of the exchange, for the pool.
func (p *pendingRecord) reset() {
	clear(p.reasons)
	// The room for a part of the fields is filled as room[:0] (releasedFields) and
	// p.fields keeps length 0: its capacity is what was written.
	clear(p.fields[:cap(p.fields)])
	p.rec, p.decision, p.signature, p.transfer = audit.Record{}, audit.Decision{}, audit.Signature{}, audit.Transfer{}
	p.client, p.reasons, p.fields = p.client[:0], p.reasons[:0], p.fields[:0]
}

// ObserveCommit is the log's audit.Options.OnCommit: the time each group commit took, which
// every exchange in it waited for. It is how an operator sees a slow audit disk.
func (a *AuditStage) ObserveCommit(_ int, took time.Duration) { a.commits.Observe(took) }

// Audit implements gateway.Auditor.
func (a *AuditStage) Audit(ctx *fasthttp.RequestCtx, x *gateway.Exchange, receipt []byte) ([]byte, error) {
	p, _ := a.records.Get().(*pendingRecord)
	if p == nil {
		p = new(pendingRecord)
	}
	rec := a.record(ctx, x, p)
	receipt, err := a.Log.AppendReceipt(ctx, rec, receipt)
	// The record's strings point into the exchange and p: nothing of them may outlive
	// Append, which keeps nothing of the record (it is encoded before the hand-off).
	p.reset()
	a.records.Put(p)
	if err != nil {
		return nil, err
	}
	return receipt, nil
}

// The record's strings taken from the exchange's bytes are views of them, not copies
// (transient): the record lives only until Audit's Append returns, while the exchange
// and its buffers are still the handler's.
func (a *AuditStage) record(ctx *fasthttp.RequestCtx, x *gateway.Exchange, p *pendingRecord) *audit.Record {
	resp := &ctx.Response
	status := resp.StatusCode()
	var body []byte
	var responseDigest string
	reqBytes, respBytes := gateway.RequestBytes(ctx, x), int64(0)
	if t := x.Transfer; t != nil {
		// A streamed body: what the transfer counted and digested (transfer.go), never
		// resp.Body(), which would read the stream itself.
		responseDigest, reqBytes, respBytes = t.SentDigest, t.RequestBytes, t.Sent
	} else {
		body = sentBody(ctx.Method(), status, resp.Body())
		digest := crypto.SM3(body)
		hex.Encode(p.digest[:], digest[:])
		responseDigest, respBytes = transient(p.digest[:]), int64(len(body))
	}
	p.client = appendClientAddr(p.client[:0], ctx.RemoteAddr())
	r := &p.rec
	*r = audit.Record{
		Time:      x.Start,
		Gateway:   a.GatewayID,
		RequestID: transient(x.ID),
		Client:    transient(p.client),
		Consumer: audit.Consumer{
			Dept: x.Identity.Dept, System: x.Identity.System, CertSerial: x.Identity.CertSerial,
		},
		Upstream:       x.Upstream,
		Method:         transient(ctx.Method()),
		Path:           transient(ctx.Request.Header.RequestURI()),
		Agreement:      transient(x.Agreement),
		Purpose:        transient(x.Purpose),
		ContentDigest:  transient(ctx.Request.Header.Peek(wire.HeaderContentDigest)),
		Status:         status,
		ResponseDigest: responseDigest,
		Fields:         []string{},
		Bytes:          audit.Bytes{Request: reqBytes, Response: respBytes},
		LatencyMicros:  time.Since(x.Start).Microseconds(),
	}
	if x.Err != nil {
		r.Error = x.Err.Code
	}
	r.Transfer = transferRecord(x, &p.transfer)
	r.Kind = recordKind(ctx, x)
	switch r.Kind {
	case audit.KindAdmin:
		// An admin record holds who, what and the outcome, nothing a data request has:
		// a Content-Digest an operator's client sent is not a consumer's.
		r.Role, r.ContentDigest = string(x.Admin), ""
		if gateway.AdminAttempt(ctx) {
			r.Status = 0 // an admin action recorded before it runs: no answer yet (serveAdmin)
		}
		return r
	case audit.KindExchange:
		r.Provider, r.Route, r.Resource, r.Mode = x.Route.Pool, x.Route.ID, x.Route.Resource, string(x.Route.Mode)
	}
	if d, _ := x.Decision.Detail.(*policy.Decision); d != nil {
		p.reasons = appendReasonCodes(p.reasons[:0], d)
		p.decision = audit.Decision{Allow: d.Allow, Reasons: p.reasons, Revision: d.Revision}
		r.Decision = &p.decision
		if d.Agreement != "" {
			r.Agreement = d.Agreement // the agreement it happened under, named or chosen
		}
		if x.Err == nil && x.Transfer == nil {
			if p.fields == nil {
				p.fields = make([]string, 0, 16) // room for a part of the decision's fields
			}
			r.Fields = recordedFields(d, body, p.fields) // what the released body carries
		} else if x.Transfer != nil {
			r.Fields = transferFields(d, x.Transfer)
			if r.Transfer.CatalogMismatch = catalogMismatch(d, x, status, r.Transfer); r.Transfer.CatalogMismatch != "" {
				a.catalogMismatches.Add(1)
			}
		}
	} else if x.Decision.Evaluated {
		p.decision = audit.Decision{Allow: x.Decision.Allow, Reasons: []string{}}
		r.Decision = &p.decision
	}
	if x.Identity.Signed && x.Signature.Input != "" {
		r.Consumer.PublicKey = x.Signature.PublicKey
		p.signature = audit.Signature{Base: x.Signature.Base, Input: x.Signature.Input, Signature: x.Signature.Signature}
		r.Signature = &p.signature
	}
	return r
}

// appendReasonCodes appends the decision's reason codes to codes: policy.Decision's
// ReasonCodes without a slice per exchange. The result is never nil (none is []).
func appendReasonCodes(codes []string, d *policy.Decision) []string {
	if codes == nil {
		codes = make([]string, 0, max(len(d.Reasons), 4))
	}
	for _, r := range d.Reasons {
		codes = append(codes, r.Code)
	}
	return codes
}

// transient is b as a string without a copy, for a record that lives only while b does
// and is not changed (AuditStage.record).
func transient(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// recordKind says what an exchange is recorded as: an admin action, a data exchange that
// reached a route, a request refused before it did, or — neither routed nor refused — a
// read the gateway answers itself: a department's proof read (proofs.go) or the catalog
// (pipeline.go).
func recordKind(ctx *fasthttp.RequestCtx, x *gateway.Exchange) audit.Kind {
	switch {
	case x.Admin != "":
		return audit.KindAdmin
	case x.Route != nil:
		return audit.KindExchange
	case x.Err != nil:
		return audit.KindRefusal
	case isProofRead(ctx):
		return audit.KindProof
	}
	return audit.KindCatalog
}

// Ready reports the log as not ready while records cannot be made durable.
func (a *AuditStage) Ready() error {
	if f := a.Log.Failing(); f != "" {
		return errors.New("audit records cannot be made durable: " + f)
	}
	return nil
}

// Collector returns the audit log's metrics, read from its stats at scrape time.
func (a *AuditStage) Collector() prometheus.Collector {
	d := prometheus.NewDesc
	return &auditCollector{
		a:              a,
		records:        d("govgate_audit_records_total", "Records made durable.", nil, nil),
		failures:       d("govgate_audit_append_failures_total", "Records that could not be made durable; their exchanges were refused.", nil, nil),
		failing:        d("govgate_audit_failing", "Whether the latest append failed (1): exchanges are being refused.", nil, nil),
		size:           d("govgate_audit_log_size", "Records in the audit log.", nil, nil),
		checkpointSize: d("govgate_audit_checkpoint_size", "Size of the latest signed checkpoint.", nil, nil),
		checkpointAt:   d("govgate_audit_checkpoint_timestamp_seconds", "When the latest checkpoint was signed (Unix seconds); before the first, when the log was opened. govgate fleet status flags a log growing past an old one.", nil, nil),
		catalogMismatches: d("govgate_publish_catalog_mismatch_total",
			"Complete transfers of a published dataset whose size or ETag contradicted the catalog's size_bytes or version (the record's transfer.catalog_mismatch says which).", nil, nil),
		held: d("govgate_audit_commits_held_total",
			"Group commits held open for more records by audit.commit_delay; records per commit (govgate_audit_records_total over govgate_audit_commit_duration_seconds_count) says what the holds gained.", nil, nil),
		commits: d("govgate_audit_commit_duration_seconds",
			"Time each group commit took to frame, write and fsync its records; every audited exchange waits for one. Records per commit: govgate_audit_records_total over its count.", nil, nil),
	}
}

type auditCollector struct {
	a                                                                       *AuditStage
	records, failures, failing, size, checkpointSize, checkpointAt, commits *prometheus.Desc
	catalogMismatches, held                                                 *prometheus.Desc
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.records, c.failures, c.failing, c.size, c.checkpointSize, c.checkpointAt, c.commits, c.catalogMismatches, c.held} {
		ch <- d
	}
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Log.Stats()
	ch <- metric.Const(c.records, prometheus.CounterValue, float64(s.Appended))
	ch <- metric.Const(c.failures, prometheus.CounterValue, float64(s.Failed))
	ch <- metric.Const(c.failing, prometheus.GaugeValue, metric.Flag(s.Failing != ""))
	ch <- metric.Const(c.held, prometheus.CounterValue, float64(s.Held))
	ch <- metric.Const(c.size, prometheus.GaugeValue, float64(s.Size))
	ch <- metric.Const(c.checkpointSize, prometheus.GaugeValue, float64(s.CheckpointSize))
	if !s.CheckpointAt.IsZero() {
		ch <- metric.Const(c.checkpointAt, prometheus.GaugeValue, float64(s.CheckpointAt.UnixNano())/1e9)
	}
	ch <- c.a.commits.Metric(c.commits)
	ch <- metric.Const(c.catalogMismatches, prometheus.CounterValue, float64(c.a.catalogMismatches.Load()))
}
