package assemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"
	"github.com/govgate/govgate/keys"
	"github.com/prometheus/client_golang/prometheus"
)

// Part is a part of the gateway a measurement may leave out.
type Part uint8

// The parts Options.Without can leave out. Everything else is built as the config says.
const (
	// Policy is the decide and release stages, the catalog and the policy's admin
	// endpoints and metrics.
	Policy Part = 1 << iota
	// Audit is the audit log, its admin endpoints and metrics, and the replay window
	// rebuilt from it.
	Audit
)

// Options are what the config does not say.
type Options struct {
	Logger *slog.Logger
	// Source reads the config again for a reload (SIGHUP, POST /reload).
	Source func() (*gateway.Config, error)
	// Without leaves parts out that the config asks for: the bench switches the stages on
	// one at a time. serve and demo leave nothing out.
	Without Part
	// OnCommit is told of each audit group commit besides the commit metric: the bench
	// records commit times with it.
	OnCommit func(records int, took time.Duration)
}

// Assembly is a gateway built from its config with everything it runs on: the key store,
// the stages, the transports and the watchers that keep them current.
type Assembly struct {
	Gateway *gateway.Gateway
	// Store is the key store, nil when no part needs one.
	Store keys.Store

	cancel   context.CancelFunc // ends the watchers
	watchers sync.WaitGroup     // the watchers' goroutines
	closers  []closer
}

// closer releases one part; name says which in an error.
type closer struct {
	name  string
	close func() error
}

// Close ends the watchers, waits for them, and releases every part in the reverse order
// of its construction. Call it once the gateway is shut down (or never started): the
// stages must outlive the exchanges that use them.
func (a *Assembly) Close() error {
	a.cancel()
	a.watchers.Wait()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i].close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", a.closers[i].name, err))
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

// builder holds what the steps of Build share.
type builder struct {
	ctx    context.Context // the watchers' context, ended by Close
	cfg    *gateway.Config
	opts   Options
	log    *slog.Logger
	a      *Assembly
	stages gateway.Stages
	auth   *identity.PeerAuthenticator
	certs  *certs.Lister
	keys   *KeyListing // GET /keys, with the key store
}

// Build makes the gateway the config describes: the key store, the TLCP and TLS
// transports with their certificate sources, the authenticate, decide, release and audit
// stages, the admin endpoints and metrics of each, and the watchers that reload them. It
// binds nothing: Gateway.Start does. If any part cannot be built, every part built before
// it is released (in reverse order) and the error returned.
func Build(ctx context.Context, cfg *gateway.Config, opts Options) (_ *Assembly, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	wctx, cancel := context.WithCancel(ctx)
	b := &builder{ctx: wctx, cfg: cfg, opts: opts, log: log, a: &Assembly{cancel: cancel}}
	defer func() {
		if err != nil {
			if cerr := b.a.Close(); cerr != nil {
				log.Error("releasing a gateway that could not be built", "error", cerr)
			}
		}
	}()
	for _, step := range []struct {
		name  string
		build func() error
	}{
		{"key store", b.keyStore},
		{"tlcp", b.tlcp},
		{"tls", b.tls},
		{"policy", b.policy},
		{"audit", b.audit},
		{"shared state", b.shared},
		{"replay window", b.replayWindow},
		{"key listing", b.keyListing},
	} {
		if err := step.build(); err != nil {
			return nil, fmt.Errorf("build %s: %w", step.name, err)
		}
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: log, Source: opts.Source, Stages: b.stages})
	if err != nil {
		return nil, err
	}
	b.a.Gateway = g
	return b.a, nil
}

// watch runs a watcher's loop until Close.
func (b *builder) watch(run func(ctx context.Context)) {
	b.a.watchers.Add(1)
	go func() {
		defer b.a.watchers.Done()
		run(b.ctx)
	}()
}

// onClose registers what releases a part just built.
func (b *builder) onClose(name string, f func() error) {
	b.a.closers = append(b.a.closers, closer{name: name, close: f})
}

// without reports whether the options leave p out.
func (b *builder) without(p Part) bool { return b.opts.Without&p != 0 }

// authenticator is the one authenticate stage of the tlcp and tls listeners: built by
// whichever transport comes first, completed by the other.
func (b *builder) authenticator() *identity.PeerAuthenticator {
	if b.auth == nil {
		b.auth = identity.NewPeerAuthenticatorWith(b.cfg.TLCP.SignaturePolicy())
		b.stages.Authenticate = b.auth
	}
	return b.auth
}

// transport plugs in the provider of one transport.
func (b *builder) transport(t gateway.Transport, p gateway.ListenerProvider) {
	if b.stages.Transports == nil {
		b.stages.Transports = map[gateway.Transport]gateway.ListenerProvider{}
	}
	b.stages.Transports[t] = p
}

// admin adds endpoints and metrics to the admin API.
func (b *builder) admin(h []gateway.AdminHandler, m prometheus.Collector) {
	b.stages.Admin = append(b.stages.Admin, h...)
	if m != nil {
		b.stages.Metrics = append(b.stages.Metrics, m)
	}
}

func (b *builder) degrade(name string, w gateway.WarningReporter) {
	if b.stages.Degraded == nil {
		b.stages.Degraded = map[string]gateway.WarningReporter{}
	}
	b.stages.Degraded[name] = w
}

// holdsCertificates lists a part's certificates on GET /certs and in the expiry metric;
// the endpoint and the metric are added once, with the first part.
func (b *builder) holdsCertificates(h certs.CertificateHolder) {
	if b.certs == nil {
		b.certs = &certs.Lister{}
		l := b.certs
		b.admin([]gateway.AdminHandler{CertsEndpoint(l)}, l.Collector())
	}
	b.certs.Holders = append(b.certs.Holders, h)
}
