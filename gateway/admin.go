package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// ReadyChecker is implemented by stages that load something (a policy revision, an audit
// log, keys) and can say whether it is loaded. /readyz asks each present stage.
type ReadyChecker interface {
	Ready() error
}

// AdminHandler is an extra admin endpoint another package contributes (policy reload,
// audit proofs). Handlers are matched on exact path.
type AdminHandler struct {
	Method string
	Path   string
	// Prefix matches every path under Path (which then ends in "/").
	Prefix bool
	// Role may use the endpoint when the admin API speaks TLCP; default operator.
	Role Role
	// ReadOnly says that a handler whose method is not GET changes no state (POST
	// /policy/eval): it is recorded once, after it runs, like a read. Any other method is
	// taken to change state and is recorded before it runs (serveAdmin).
	ReadOnly bool
	Handler  fasthttp.RequestHandler
}

// adminMaxBody is the largest request body the admin API reads.
const adminMaxBody = 1 << 20

func (g *Gateway) startAdmin(cfg *Config) (*runningListener, error) {
	ln, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	g.adminGuard = newAdminGuard(cfg.Admin.Hosts, ln.Addr(), cfg.Admin.TLCP)
	transport := TransportPlain
	if cfg.Admin.TLCP {
		provider := g.stages.Transports[TransportTLCP]
		if provider == nil {
			ln.Close()
			return nil, fmt.Errorf("admin listener: admin.tlcp needs the TLCP transport")
		}
		if ln, err = provider.Wrap(ln); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		transport = TransportTLCP
		g.adminRoles = true
	} else {
		g.log.Warn("admin API without administrator roles: plain HTTP on loopback; set admin.tlcp to require role certificates")
	}
	rl := &runningListener{
		cfg:    Listener{Name: "admin", Address: cfg.Admin.Address, Transport: transport},
		limits: cfg.Limits,
		ln:     ln,
		served: make(chan error, 1),
	}
	rl.srv = &fasthttp.Server{
		Handler:               g.serveAdmin,
		ErrorHandler:          g.handleAdminReadError,
		Name:                  "govgate-admin",
		ReadTimeout:           cfg.Limits.ReadTimeout,
		WriteTimeout:          cfg.Limits.WriteTimeout,
		IdleTimeout:           cfg.Limits.IdleTimeout,
		MaxRequestBodySize:    adminMaxBody,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
		Logger:                fasthttpLogger{g.log.With("listener", "admin")},
	}
	// A refused administrator's handshake is named like a department's.
	g.observeHandshakes(rl)
	go func() { rl.served <- rl.srv.Serve(ln) }()
	g.log.Info("admin API listening", "address", ln.Addr().String())
	return rl, nil
}

// adminKind is how an admin request is recorded, and what happens when its record cannot
// be made durable.
type adminKind int

const (
	// adminProbe: GET /healthz, /readyz, /metrics. Not recorded when answered; a refused
	// probe (wrong method, another site, unreadable) is recorded like any refusal, but
	// an answer whose record cannot be written is logged, not refused, since these are
	// how an operator sees that the audit disk is full.
	adminProbe adminKind = iota
	// adminRead changes nothing but answers with protected data (records, proofs, the
	// policy, the config, certificates, a dry-run decision) — and every refusal. Recorded
	// after it runs; when the record cannot be made durable the answer is replaced by 503
	// audit_unavailable, as a data exchange's is: nothing is answered without its record.
	adminRead
	// adminChange changes state (POST /reload, POST /policy/reload, and any other method
	// but GET and HEAD on an endpoint not marked ReadOnly). See serveAdmin.
	adminChange
)

// adminRoute is what a request to the admin API reaches: the role it needs, how it is
// recorded, and its handler — or the 404 or 405 it gets instead.
type adminRoute struct {
	role    Role
	kind    adminKind
	handler fasthttp.RequestHandler
	refusal *Error
}

// serveAdmin answers the admin API: each endpoint belongs to a role, the caller's
// certificate must carry it (when the API speaks TLCP), the request must be meant for this
// API and not sent by a browser for another site (adminGuard), and every request, allowed
// or refused, is recorded in the audit log as an admin action — but for the answered
// probes (/healthz, /readyz, /metrics), which are not recorded at all.
//
// A state change is recorded before it takes effect: the record of the attempt (status 0:
// no answer yet) is made durable, then the action runs, then its outcome is recorded under
// the same request id. If the attempt cannot be recorded the action does not run (503
// audit_unavailable); so a change the log never saw cannot happen, and an attempt record
// without an outcome record is an action whose outcome was not recorded (the log failed in
// between, or the gateway stopped) — it may have taken effect, and the auditor knows who
// tried what and when. If the outcome cannot be recorded the answer is replaced by 503
// audit_unavailable saying that the action ran. Reads and refusals are recorded once,
// after they are answered (adminKind).
func (g *Gateway) serveAdmin(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	ep := g.adminEndpoint(string(ctx.Method()), string(ctx.Path()))
	caller, refusal := g.authorizeAdmin(ctx, ep.role)
	if refusal == nil {
		refusal = g.adminGuard.check(ctx)
	}
	if refusal == nil {
		refusal = ep.refusal
	}
	x := g.adminExchange(caller, ep.role, start)
	defer g.exchanges.put(x)
	ran := false
	switch {
	case refusal != nil:
		x.Err = refusal
		writeError(&ctx.Response, refusal, x.ID)
	case ep.kind == adminChange:
		if err := g.auditAdminAttempt(ctx, x); err != nil {
			g.log.Error("admin action refused: its record could not be written before it ran", "request_id", string(x.ID), "path", string(ctx.Path()), "error", err)
			writeError(&ctx.Response, Errorf(fasthttp.StatusServiceUnavailable, "audit_unavailable",
				"the record of this action could not be written; the action was not carried out"), x.ID)
			return
		}
		ran = true
		g.runAdminGuarded(ctx, x, ep.handler)
	default:
		g.runAdminGuarded(ctx, x, ep.handler)
	}
	g.auditAdmin(ctx, x, ep.kind, ran)
}

// adminEndpoint finds what a request reaches: a contributed handler, or the operator's
// built-in endpoints.
func (g *Gateway) adminEndpoint(method, path string) adminRoute {
	for _, h := range g.stages.Admin {
		if h.Path == path || (h.Prefix && strings.HasPrefix(path, h.Path)) {
			r := adminRoute{role: h.Role, kind: adminRead, handler: h.Handler}
			if r.role == "" {
				r.role = RoleOperator
			}
			if method != h.Method {
				r.refusal = Errorf(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "%s only", h.Method)
			} else if method != fasthttp.MethodGet && method != fasthttp.MethodHead && !h.ReadOnly {
				r.kind = adminChange
			}
			return r
		}
	}
	r := adminRoute{role: RoleOperator, kind: adminRead, handler: g.serveBuiltinAdmin}
	want := fasthttp.MethodGet
	switch path {
	case "/healthz", "/readyz", "/metrics":
		r.kind = adminProbe
	case "/config":
	case "/reload":
		want, r.kind = fasthttp.MethodPost, adminChange
	default:
		r.refusal = Errorf(fasthttp.StatusNotFound, "not_found", "no admin endpoint %s", path)
		return r
	}
	if method != want {
		r.refusal = Errorf(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "%s only", want)
		if r.kind == adminChange {
			r.kind = adminRead
		}
	}
	return r
}

// serveBuiltinAdmin serves the operator's endpoints; adminEndpoint has checked the path
// and the method.
func (g *Gateway) serveBuiltinAdmin(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	switch path {
	case "/healthz":
		// The same to any Host (adminGuard lets probes through): it says up and nothing else.
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case "/readyz":
		g.serveReady(ctx)
	case "/metrics":
		g.serveMetrics(ctx)
	case "/config":
		out, err := g.Config().Redacted().YAML()
		if err != nil {
			AdminError(ctx, fasthttp.StatusInternalServerError, "internal", "config could not be rendered")
			return
		}
		ctx.SetContentType("application/yaml")
		ctx.SetBody(out)
	case "/reload":
		g.serveReload(ctx)
	}
}

// reloadRefusal is POST /reload's 409: the admin API's error body with the restart-only
// fields named, for tools that act on them.
type reloadRefusal struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Fields  []string `json:"fields"`
	} `json:"error"`
}

// serveReload answers POST /reload: 200 when the new config is in force, 409
// restart_required naming the restart-only fields it changes (nothing applied), 422
// reload_failed when it cannot be read or is invalid.
func (g *Gateway) serveReload(ctx *fasthttp.RequestCtx) {
	answerReload(ctx, g.log, g.ReloadFromSource())
}

// answerReload is the answer to a reload, POST /reload's or a signal's (ReloadOnSignal),
// and the log line of a refused one.
func answerReload(ctx *fasthttp.RequestCtx, log *slog.Logger, err error) {
	if err == nil {
		WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"reloaded": true})
		return
	}
	var restart *RestartRequiredError
	if errors.As(err, &restart) {
		log.Error("reload refused; the running config stays", "error", err, "restart_only", restart.Fields)
		var body reloadRefusal
		body.Error.Code, body.Error.Message, body.Error.Fields = "restart_required", err.Error(), restart.Fields
		WriteJSON(ctx, fasthttp.StatusConflict, &body)
		return
	}
	log.Error("reload refused; the running config stays", "error", err)
	AdminError(ctx, fasthttp.StatusUnprocessableEntity, "reload_failed", err.Error())
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready        bool                 `json:"ready"`
	AbsentStages []string             `json:"absent_stages"`
	Stages       map[string]string    `json:"stages"`
	Pools        map[string]PoolState `json:"pools"`
	Warnings     map[string]string    `json:"warnings,omitempty"`
	// Parts is each of Stages.Parts: "ok" or why it is not ready.
	Parts map[string]string `json:"parts,omitempty"`
}

// PoolState is a pool's health as /readyz reports it.
type PoolState struct {
	Healthy int `json:"healthy"`
	Members int `json:"members"`
}

// Readiness reports whether every pool has a healthy member and every present stage has
// what it needs loaded. Absent stages are listed, so that a gateway running without
// policy or audit says so wherever an operator looks, but they do not hold readiness back:
// running without them was the operator's explicit choice at start.
func (g *Gateway) Readiness() Readiness {
	r := Readiness{Ready: true, AbsentStages: g.stages.Absent(), Stages: map[string]string{}, Pools: map[string]PoolState{}}
	if r.AbsentStages == nil {
		r.AbsentStages = []string{}
	}
	for name, s := range map[string]any{
		StageAuthenticate.String(): g.stages.Authenticate, StageDecide.String(): g.stages.Decide,
		StageRelease.String(): g.stages.Release, StageAudit.String(): g.stages.Audit,
	} {
		if s == nil {
			r.Stages[name] = "absent"
			continue
		}
		r.Stages[name] = "ok"
		if rc, ok := s.(ReadyChecker); ok {
			if err := rc.Ready(); err != nil {
				r.Stages[name] = err.Error()
				r.Ready = false
			}
		}
	}
	for name, p := range g.stages.Parts {
		if r.Parts == nil {
			r.Parts = map[string]string{}
		}
		r.Parts[name] = "ok"
		if err := p.Ready(); err != nil {
			r.Parts[name] = err.Error()
			r.Ready = false
		}
	}
	for name, d := range g.stages.Degraded {
		if w := d.Warning(); w != "" {
			if r.Warnings == nil {
				r.Warnings = map[string]string{}
			}
			r.Warnings[name] = w
		}
	}
	for id, p := range g.rt.Load().pools {
		ps := PoolState{Healthy: p.healthyMembers(), Members: len(p.members)}
		r.Pools[id] = ps
		if ps.Healthy == 0 {
			r.Ready = false
		}
	}
	return r
}

// serveReady answers /readyz: the whole Readiness to a request for one of the admin API's
// own hosts, only the status and {"ready":...} to any other. /readyz answers any Host so
// that load balancers can probe by address, and so does a page that re-binds its name to
// the gateway's loopback; the stages' and warnings' texts (a key store's address, the
// paths of keys in it) are for the operator, and a probe needs no more than ready or not.
func (g *Gateway) serveReady(ctx *fasthttp.RequestCtx) {
	r := g.Readiness()
	status := fasthttp.StatusOK
	if !r.Ready {
		status = fasthttp.StatusServiceUnavailable
	}
	if g.adminGuard == nil || !g.adminGuard.ownHost(&ctx.Request.Header) {
		WriteJSON(ctx, status, probeReadiness{Ready: r.Ready})
		return
	}
	WriteJSON(ctx, status, r)
}

// probeReadiness is /readyz's body for a Host that is not the admin API's own.
type probeReadiness struct {
	Ready bool `json:"ready"`
}

// WriteJSON answers an admin request with v as indented JSON.
func WriteJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		AdminError(ctx, fasthttp.StatusInternalServerError, "internal", "response could not be encoded")
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(data, '\n'))
}

// AdminError answers an admin request with the JSON refusal every endpoint uses.
func AdminError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	writeError(&ctx.Response, Errorf(status, code, "%s", msg), nil)
}
