package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/govgate/govgate/policy"
)

// DefaultPollInterval is how often a gateway asks the bundle server for a new revision.
const DefaultPollInterval = 30 * time.Second

// PollerOptions configure a Poller.
type PollerOptions struct {
	// URL is the bundle's address; its signature is at URL + SignatureSuffix.
	URL      string
	Interval time.Duration // DefaultPollInterval when zero
	Verifier *Verifier
	// Client makes the requests; http.DefaultClient's transport with a timeout when nil.
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock certificates are checked at; time.Now when nil.
	Now func() time.Time
	// PersistDir, when set, keeps the bundle (and its signature) that went live — see
	// Persist — for LoadPersisted after a restart.
	PersistDir string
}

// Poller fetches the bundle, verifies it and keeps the latest verified one for the policy
// engine, which reads it through Files. Run polls and calls the engine's reload after each
// new verified bundle.
type Poller struct {
	opts PollerOptions
	log  *slog.Logger

	mu                                   sync.Mutex
	current                              *fetched            // the latest verified bundle: what Files returns
	currentRaw, currentSig               []byte              // current's bytes, for Persist
	byID                                 map[string]*fetched // current and the one before, by engine revision ID
	etag                                 string              // of current
	lastPoll                             time.Time
	lastErr                              string
	lastErrAt                            time.Time
	polls, notModified, fetches, refused uint64
}

// fetched is one verified bundle and where it came from.
type fetched struct {
	loaded    *Loaded
	id        string // the engine's revision ID of its files
	signer    *Signer
	etag      string
	fetchedAt time.Time
	revoked   bool // the CRL read since it was verified revokes its signer
}

// NewPoller checks the options; it does not fetch.
func NewPoller(opts PollerOptions) (*Poller, error) {
	if opts.URL == "" {
		return nil, errors.New("policy bundle: no URL")
	}
	if opts.Verifier == nil {
		return nil, errors.New("policy bundle: no verifier; an unsigned policy is never loaded")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultPollInterval
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Poller{opts: opts, log: opts.Logger, byID: map[string]*fetched{}}, nil
}

// URL is the bundle's address.
func (p *Poller) URL() string { return p.opts.URL }

// Interval is the poll interval.
func (p *Poller) Interval() time.Duration { return p.opts.Interval }

// Files returns the latest verified bundle's files: the policy engine's source
// (policy.Options.Files). Before the first verified bundle there is nothing to load.
func (p *Poller) Files() (*policy.Files, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == nil {
		return nil, fmt.Errorf("policy bundle %s: no verified bundle yet", p.opts.URL)
	}
	return p.current.loaded.Files, nil
}

// Poll asks the server once. changed is true when a new bundle was verified and is now
// what Files returns; false on 304 Not Modified. A bundle that fails verification is
// refused with an error and Files keeps the one before.
func (p *Poller) Poll(ctx context.Context) (changed bool, err error) {
	changed, err = p.poll(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	p.lastPoll = p.opts.Now()
	if err != nil {
		p.refused++
		p.lastErr, p.lastErrAt = err.Error(), p.lastPoll
	} else {
		p.lastErr = ""
	}
	return changed, err
}

func (p *Poller) poll(ctx context.Context) (bool, error) {
	// The CRL is read again first: a signer revoked while running makes no new bundle
	// live, and an unreadable CRL makes none live at all (fail closed).
	if err := p.opts.Verifier.Refresh(); err != nil {
		return false, fmt.Errorf("policy bundle %s: %w", p.opts.URL, err)
	}
	p.markRevoked()
	p.mu.Lock()
	etag := p.etag
	p.mu.Unlock()
	body, newTag, status, err := p.get(ctx, p.opts.URL, etag, MaxBundleSize)
	if err != nil {
		return false, err
	}
	if status == http.StatusNotModified {
		p.mu.Lock()
		p.notModified++
		p.mu.Unlock()
		return false, nil
	}
	sig, _, _, err := p.get(ctx, p.opts.URL+SignatureSuffix, "", MaxSignatureSize)
	if err != nil {
		return false, fmt.Errorf("policy bundle %s: signature: %w", p.opts.URL, err)
	}
	f, err := p.verify(body, sig, newTag)
	if err != nil {
		return false, fmt.Errorf("policy bundle %s refused: %w", p.opts.URL, err)
	}
	if err := p.checkNotOlder(f.signer); err != nil {
		return false, fmt.Errorf("policy bundle %s refused: %w", p.opts.URL, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.currentRaw, p.currentSig = body, sig
	p.fetches++
	if p.current != nil && p.current.id == f.id {
		// The same files, republished (another manifest revision or signer): nothing to
		// compile, but the bundle describing the live revision is now this one.
		p.current, p.etag = f, newTag
		p.byID[f.id] = f
		return false, nil
	}
	p.current, p.etag = f, newTag
	p.remember(f)
	return true, nil
}

// markRevoked flags the verified bundles whose signer the CRL now revokes. The live
// revision keeps serving (there is no other policy to decide by, and refusing every
// exchange is the CRL writer's power over the whole fleet); /policy and the metric
// govgate_policy_bundle_signer_revoked say so, and an officer signs a new bundle.
func (p *Poller) markRevoked() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.byID {
		if !f.revoked && p.opts.Verifier.Revoked(f.signer) {
			f.revoked = true
			p.log.Error("the signer of a verified policy bundle is revoked; it keeps serving if live until a new bundle is signed",
				"url", p.opts.URL, "bundle_revision", f.loaded.Revision, "signer", f.signer.Subject, "serial", f.signer.Serial)
		}
	}
}

// checkNotOlder refuses a bundle signed before the current one: whoever controls the
// bundle server (or the network to it) could otherwise serve an older, validly signed
// revision — one whose grants were since withdrawn. An officer who wants the old policy
// back signs it again. Across a restart the comparison holds only with PersistDir
// (LoadPersisted before the first poll).
func (p *Poller) checkNotOlder(s *Signer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != nil && s.SignedAt.Before(p.current.signer.SignedAt) {
		return fmt.Errorf("bundle signed at %s, before the current bundle (signed at %s): an older revision is not taken back unless signed again",
			s.SignedAt.Format(time.RFC3339), p.current.signer.SignedAt.Format(time.RFC3339))
	}
	return nil
}

// verify checks a bundle and its signature and unpacks it.
func (p *Poller) verify(body, sig []byte, etag string) (*fetched, error) {
	signer, err := p.opts.Verifier.Verify(body, sig, p.opts.Now())
	if err != nil {
		return nil, err
	}
	loaded, err := Read(body)
	if err != nil {
		return nil, err
	}
	return &fetched{loaded: loaded, id: loaded.Files.ID(), signer: signer, etag: etag, fetchedAt: p.opts.Now()}, nil
}

// maxRemembered bounds the verified bundles kept by revision ID, so that /policy can name
// the signer of the live revision even after later bundles were refused by the engine.
const maxRemembered = 16

// remember keeps f, dropping the oldest-fetched bundle beyond maxRemembered.
func (p *Poller) remember(f *fetched) {
	p.byID[f.id] = f
	for len(p.byID) > maxRemembered {
		var oldest *fetched
		for _, g := range p.byID {
			if g != p.current && (oldest == nil || g.fetchedAt.Before(oldest.fetchedAt)) {
				oldest = g
			}
		}
		delete(p.byID, oldest.id)
	}
}

// get fetches url, conditionally on etag, reading at most limit bytes; it returns the
// body of a 200, or the status 304 with no body.
func (p *Poller) get(ctx context.Context, url, etag string, limit int64) ([]byte, string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", 0, fmt.Errorf("policy bundle: %w", err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return nil, "", 0, fmt.Errorf("policy bundle: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if etag != "" {
			return nil, etag, resp.StatusCode, nil
		}
		fallthrough
	default:
		return nil, "", resp.StatusCode, fmt.Errorf("policy bundle: GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", 0, fmt.Errorf("policy bundle: GET %s: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, "", 0, fmt.Errorf("policy bundle: GET %s: more than %d bytes", url, limit)
	}
	return body, entityTag(resp.Header.Get("ETag")), resp.StatusCode, nil
}

// entityTag returns tag when it is one entity-tag (RFC 9110 8.8.3: [W/]"chars"), else "":
// a "*" or a list, sent back as If-None-Match, would match every later bundle and the
// server would answer 304 for ever.
func entityTag(tag string) string {
	opaque := strings.TrimPrefix(tag, "W/")
	if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' {
		return ""
	}
	for _, c := range []byte(opaque[1 : len(opaque)-1]) {
		if c == '"' || c <= 0x20 || c == 0x7f {
			return ""
		}
	}
	return tag
}

// Run polls every interval (with up to a tenth of jitter, so that a fleet does not ask in
// step) until ctx ends; after each new verified bundle it calls reload, which makes the
// bundle live or keeps the running revision. After a failure it retries sooner, doubling
// the wait from a second up to the interval, as OPA backs off.
func (p *Poller) Run(ctx context.Context, reload func(context.Context) error) {
	failures := 0
	for {
		wait := jitter(p.opts.Interval)
		if failures > 0 {
			wait = min(time.Second<<min(failures-1, 16), wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		changed, err := p.Poll(ctx)
		if err != nil {
			failures++
			p.log.Error("policy bundle poll failed; the running revision stays", "url", p.opts.URL, "error", err)
			continue
		}
		failures = 0
		if changed {
			// A failure is the engine's to log and keep (Status, /policy); the bundle
			// stays current, so the next poll gets 304 and does not compile it again.
			if reload(ctx) == nil {
				p.persistLive()
			}
		}
	}
}

func jitter(d time.Duration) time.Duration {
	j := d / 10
	if j <= 0 {
		return d
	}
	return d - j + rand.N(2*j)
}
