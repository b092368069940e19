package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/govgate/govgate/crypto/tlcp"
)

// A refused handshake is the only trace a revoked or untrusted department leaves — the
// peer sees an alert, the pipeline never runs — so every one is counted
// (govgate_handshake_failures_total{listener,reason}) and logged with the department,
// certificate serial, reason and address; the log is rate-limited so that a flood of
// handshakes cannot flood it.

// handshakeLogWindow and handshakeLogLines bound the log: in each window, at most one line
// per (reason, certificate serial) — or (reason, client IP) when no certificate was sent —
// and at most handshakeLogLines lines in all. What is held back is counted and reported in
// one line by the first failure of the next window; the metric counts every failure.
const (
	handshakeLogWindow = time.Minute
	handshakeLogLines  = 20
)

// handshakeObservable is a listener that reports its failed handshakes (*tlcp.Listener).
type handshakeObservable interface {
	OnHandshakeFailure(func(tlcp.HandshakeFailure))
}

// observeHandshakes counts and logs the failed handshakes of rl, if its listener reports
// them. Called before rl serves.
func (g *Gateway) observeHandshakes(rl *runningListener) {
	hl, ok := rl.ln.(handshakeObservable)
	if !ok {
		return
	}
	if s, ok := rl.ln.(interface {
		ClientVerifyStats() *tlcp.ClientVerifyStats
	}); ok {
		g.metrics.observeClientVerify(s.ClientVerifyStats())
	}
	counts := g.metrics.handshakeFailures(rl.cfg.Name)
	limit := &logLimiter{window: handshakeLogWindow, max: handshakeLogLines}
	log := g.log.With("listener", rl.cfg.Name)
	hl.OnHandshakeFailure(func(f tlcp.HandshakeFailure) {
		counts.inc(f.Reason)
		logHandshakeFailure(log, limit, f, time.Now())
	})
}

func logHandshakeFailure(log *slog.Logger, limit *logLimiter, f tlcp.HandshakeFailure, now time.Time) {
	key := f.Reason + "|"
	if f.Cert != nil {
		key += f.Cert.SerialNumber.Text(16)
	} else {
		key += hostOf(f.Remote)
	}
	ok, held := limit.allow(key, now)
	if held > 0 {
		log.Warn("tlcp handshake failures not logged in the last window", "count", held, "window", limit.window)
	}
	if !ok {
		return
	}
	attrs := []any{"reason", f.Reason, "remote", addrString(f.Remote)}
	if c := f.Cert; c != nil {
		var uris []string
		for _, u := range c.URIs {
			uris = append(uris, u.String())
		}
		attrs = append(attrs, "dept", DeptOf(uris), "system", c.Subject.CommonName,
			"serial", c.SerialNumber.Text(16), "issuer", c.Issuer.CommonName)
	}
	attrs = append(attrs, "error", f.Err)
	level := slog.LevelWarn
	switch f.Reason {
	case tlcp.ReasonProtocol, tlcp.ReasonClosed, tlcp.ReasonTimeout:
		// Scanners and L4 health checks, mostly: worth a line, not a warning.
		level = slog.LevelInfo
	}
	log.Log(context.Background(), level, "tlcp handshake refused", attrs...)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// hostOf is the IP of a remote address without its port: one client's many connections
// share a log key.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	return a.String()
}

// logLimiter lets through at most one line per key and max lines in all per window.
type logLimiter struct {
	window time.Duration
	max    int

	mu    sync.Mutex
	start time.Time
	keys  map[string]struct{}
	held  int
}

// allow tells whether a line for key may be written at now, and how many lines the window
// that just ended held back (non-zero once, for the first call of a new window).
func (l *logLimiter) allow(key string, now time.Time) (ok bool, heldBack int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil || now.Sub(l.start) >= l.window {
		heldBack, l.held = l.held, 0
		l.start = now
		l.keys = map[string]struct{}{}
	}
	if _, seen := l.keys[key]; seen || len(l.keys) >= l.max {
		l.held++
		return false, heldBack
	}
	l.keys[key] = struct{}{}
	return true, heldBack
}

// clientVerifySources are the counters of client CertificateVerify forms of the TLCP
// listeners (one, shared, when they come from one TLCPTransport), rendered summed as
// govgate_tlcp_client_verify_total{form}: how many departments sign GmSSL's way shows
// whether tlcp.client_verify_digest_only can be turned on.
type clientVerifySources map[*tlcp.ClientVerifyStats]struct{}

func (m *Metrics) observeClientVerify(s *tlcp.ClientVerifyStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clientVerify == nil {
		m.clientVerify = clientVerifySources{}
	}
	m.clientVerify[s] = struct{}{}
}

// clientVerifyCounts sums the forms over the listeners' sources, in the order the first
// source lists them; m.mu is held.
func (m *Metrics) clientVerifyCounts() (forms []string, sums map[string]uint64) {
	sums = map[string]uint64{}
	for s := range m.clientVerify {
		for _, c := range s.Counts() {
			if _, seen := sums[c.Form]; !seen {
				forms = append(forms, c.Form)
			}
			sums[c.Form] += c.Count
		}
	}
	return forms, sums
}
