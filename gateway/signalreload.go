package gateway

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// signalAddr is the "client" of a reload asked for by a signal: the record's client
// member reads "signal:SIGHUP". Whoever can signal the process (its own user or root) is
// its operator; the kernel tells the receiver the sender's pid and uid, but Go's
// os/signal does not pass them on, so the record cannot name more.
type signalAddr string

func (a signalAddr) Network() string { return "signal" }
func (a signalAddr) String() string  { return "signal:" + string(a) }

// SignalReloadPath is the admin endpoint a signal's reload is recorded as: the same
// action as POST /reload, so that an auditor reading the log finds every change of the
// running configuration under one path, whoever asked for it.
const SignalReloadPath = "/reload"

// ReloadOnSignal is the reload a signal (SIGHUP) asks for, recorded as the admin action
// POST /reload is (serveAdmin): its attempt is made durable before the config is reread,
// its outcome after, under one request id, with the operator's role and the signal as the
// client. If the attempt cannot be recorded the config is not reread — a configuration
// change the log never saw cannot happen, whether asked over the admin API or by a signal.
// The error is the reload's (the running config stays) or the audit log's.
func (g *Gateway) ReloadOnSignal(signal string) error {
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(SignalReloadPath)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, signalAddr(signal), nil)

	x := g.adminExchange(nil, RoleOperator, time.Now())
	defer g.exchanges.put(x)
	if err := g.auditAdminAttempt(&ctx, x); err != nil {
		g.log.Error("reload on "+signal+" refused: its record could not be written before it ran; the running config stays",
			"request_id", string(x.ID), "error", err)
		return fmt.Errorf("reload on %s not carried out: its audit record could not be written: %w", signal, err)
	}
	err := g.ReloadFromSource()
	answerReload(&ctx, g.log, err)
	g.auditAdmin(&ctx, x, adminChange, true)
	if err != nil {
		return err
	}
	if ctx.Response.StatusCode() != fasthttp.StatusOK {
		// The reload took effect but its outcome is not on the record (auditAdmin replaced
		// the answer with 503 audit_unavailable and logged why).
		return fmt.Errorf("reload on %s carried out, but its outcome could not be recorded (its attempt is on the record under request id %s)", signal, x.ID)
	}
	return nil
}
