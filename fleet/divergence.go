package fleet

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Divergence kinds.
const (
	KindUnreachable    = "unreachable"      // no admin endpoint answered
	KindPolicyRevision = "policy_revision"  // two revisions live longer than the poll interval
	KindPolicyBehind   = "policy_behind"    // a gateway is not on the newest revision, or its last bundle was refused
	KindCertNotRotated = "cert_not_rotated" // one subject's certificate, an older serial on this gateway
	KindCertExpiring   = "cert_expiring"    // a certificate expires within the warning window
	KindNotReady       = "not_ready"        // /readyz says not ready (a stage, a pool, shared state)
	KindUnreadable     = "unreadable"       // it answered, but /policy or /readyz, or a part it runs, could not be read
	KindSharedState    = "shared_state"     // Redis shared state degraded or down here, or shared by some gateways only
	KindKeyVersion     = "key_version"      // gateways on one key store use different versions of one key past the grace
	KindAuditStale     = "audit_stale"      // records arrive, but the latest checkpoint is older than the stale limit
)

// Divergence is one thing the fleet does not agree on, or one gateway lagging.
type Divergence struct {
	Kind    string `json:"kind"`
	Gateway string `json:"gateway,omitempty"`
	Message string `json:"message"`
}

// Options tune what counts as a divergence.
type Options struct {
	// Grace is how long two policy revisions may both be live before it is a divergence:
	// a new bundle reaches each gateway within its poll interval. Zero: the largest poll
	// interval a gateway reports (its bundle's), or DefaultGrace without bundles.
	Grace time.Duration
	// ExpiryWarning flags a certificate expiring within it; default DefaultExpiryWarning.
	ExpiryWarning time.Duration
	// KeyGrace is how long gateways on one key store may use different versions of a key
	// after the newer was created (each polls keys.poll_interval, backing off to a minute
	// while the store is unreachable); default: Grace when set, else DefaultKeyGrace.
	KeyGrace time.Duration
	// AuditStale flags a gateway whose log holds records past its latest checkpoint,
	// signed longer ago than this (or none signed); default DefaultAuditStale.
	AuditStale time.Duration
	Now        time.Time
}

// Defaults of Options.
const (
	DefaultGrace         = 30 * time.Second
	DefaultExpiryWarning = 30 * 24 * time.Hour
	DefaultKeyGrace      = 2 * time.Minute
	DefaultAuditStale    = time.Minute
)

// Report is the fleet's status: every gateway, and every divergence found.
type Report struct {
	CheckedAt   time.Time           `json:"checked_at"`
	Gateways    []GatewayStatus     `json:"gateways"`
	Revisions   map[string][]string `json:"revisions"` // live policy revision → gateways
	Divergences []Divergence        `json:"divergences"`
	OK          bool                `json:"ok"`
}

// Analyze compares the gateways' statuses.
func Analyze(gws []GatewayStatus, opts Options) *Report {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = DefaultExpiryWarning
	}
	r := &Report{CheckedAt: opts.Now, Gateways: gws, Revisions: map[string][]string{}, Divergences: []Divergence{}}
	add := func(kind, gw, format string, args ...any) {
		r.Divergences = append(r.Divergences, Divergence{Kind: kind, Gateway: gw, Message: fmt.Sprintf(format, args...)})
	}
	for _, g := range gws {
		if !g.Reachable {
			add(KindUnreachable, g.Name, "the admin API at %s did not answer: %v", g.Admin, g.Errors)
			continue
		}
		if why := unreadable(g); len(why) > 0 {
			add(KindUnreadable, g.Name, "the admin API at %s answered, but not what the fleet view compares: %v", g.Admin, why)
		}
		if g.Ready != nil && !g.Ready.Ready {
			add(KindNotReady, g.Name, "not ready: stages %v, warnings %v", g.Ready.Stages, g.Ready.Warnings)
		}
	}
	analyzePolicy(gws, opts, r, add)
	analyzeCerts(gws, opts, add)
	analyzeShared(gws, add)
	analyzeKeys(gws, opts, add)
	analyzeAudit(gws, opts, add)
	r.OK = len(r.Divergences) == 0
	return r
}

// unreadable lists what a reachable gateway did not let the fleet view read: an answer
// that does not parse or that was refused (a role the caller's pair lacks), a required
// endpoint missing, a policy without a revision. A 404 of an optional part (no audit log,
// no TLCP certificates) is a part the gateway does not run, not a fault.
func unreadable(g GatewayStatus) map[string]string {
	why := map[string]string{}
	for path, err := range g.Errors {
		if !strings.HasPrefix(err, notRunPrefix) || slices.Contains(requiredEndpoints, path) {
			why[path] = err
		}
	}
	if g.Policy != nil && g.Policy.Revision == "" {
		why["/policy"] = "no revision"
	}
	return why
}

func analyzePolicy(gws []GatewayStatus, opts Options, r *Report, add func(kind, gw, format string, args ...any)) {
	grace := opts.Grace
	newest := map[string]time.Time{} // revision → when it last went live somewhere
	for _, g := range gws {
		p := g.Policy
		if p == nil {
			continue
		}
		r.Revisions[p.Revision] = append(r.Revisions[p.Revision], g.Name)
		if p.LoadedAt.After(newest[p.Revision]) {
			newest[p.Revision] = p.LoadedAt
		}
		if p.Bundle != nil {
			if opts.Grace == 0 && p.Bundle.PollInterval > grace {
				grace = p.Bundle.PollInterval
			}
			if p.Bundle.Pending != "" {
				add(KindPolicyBehind, g.Name, "bundle %s was verified but not made live (%s); revision %s keeps serving", p.Bundle.Pending, p.LastError, p.Revision)
			} else if p.Bundle.LastError != "" {
				add(KindPolicyBehind, g.Name, "the last bundle poll was refused: %s", p.Bundle.LastError)
			}
		}
	}
	if opts.Grace == 0 && grace == 0 {
		grace = DefaultGrace
	}
	if len(r.Revisions) < 2 {
		return
	}
	revs := make([]string, 0, len(newest))
	for rev := range newest {
		revs = append(revs, rev)
	}
	sort.Slice(revs, func(i, j int) bool { return newest[revs[i]].After(newest[revs[j]]) })
	latest := revs[0]
	since := opts.Now.Sub(newest[latest])
	if since >= -grace && since <= grace {
		return // a new revision is still reaching the fleet
	}
	if since < 0 {
		// Loaded "later" than now by more than the grace: that gateway's clock is ahead, and
		// how long the revisions have diverged is unknown; waiting for it would hide them.
		add(KindPolicyRevision, "", "%d policy revisions live; the newest reports loading %s ahead of this clock: %v", len(revs), (-since).Round(time.Second), r.Revisions)
	} else {
		add(KindPolicyRevision, "", "%d policy revisions live for %s, longer than %s: %v", len(revs), since.Round(time.Second), grace, r.Revisions)
	}
	for _, rev := range revs[1:] {
		for _, gw := range r.Revisions[rev] {
			add(KindPolicyBehind, gw, "runs revision %s; the newest, %s, is live on %v", rev, latest, r.Revisions[latest])
		}
	}
}

// analyzeCerts flags certificates about to expire, and a certificate (same role and
// subject) that another gateway has already replaced with a later one.
func analyzeCerts(gws []GatewayStatus, opts Options, add func(kind, gw, format string, args ...any)) {
	type key struct{ role, subject string }
	latest := map[key]time.Time{}
	for _, g := range gws {
		for _, c := range g.Certs {
			k := key{c.Role, c.Subject}
			if c.NotAfter.After(latest[k]) {
				latest[k] = c.NotAfter
			}
		}
	}
	for _, g := range gws {
		for _, c := range g.Certs {
			if c.NotAfter.Sub(opts.Now) < opts.ExpiryWarning {
				add(KindCertExpiring, g.Name, "%s certificate %s (serial %s) expires %s", c.Role, c.Subject, c.Serial, c.NotAfter.Format(time.RFC3339))
			}
			if l := latest[key{c.Role, c.Subject}]; c.NotAfter.Before(l) {
				add(KindCertNotRotated, g.Name, "%s certificate %s (serial %s, until %s): another gateway holds one until %s",
					c.Role, c.Subject, c.Serial, c.NotAfter.Format(time.RFC3339), l.Format(time.RFC3339))
			}
		}
	}
}
