package bundle

import "time"

// Status is what /policy shows about the bundle: the live revision's bundle (its manifest
// revision, signer, ETag) and the poller's state.
type Status struct {
	URL          string        `json:"url"`
	PollInterval time.Duration `json:"poll_interval_ns"`
	Revision     string        `json:"bundle_revision,omitempty"`
	ETag         string        `json:"etag,omitempty"`
	Signer       *Signer       `json:"signer,omitempty"`
	FetchedAt    *time.Time    `json:"fetched_at,omitempty"`
	// SignerRevoked: the CRL, read again at each poll, revokes the live revision's signer.
	// The revision keeps serving until a new bundle goes live.
	SignerRevoked bool `json:"signer_revoked,omitempty"`
	// Pending names the latest verified bundle when the engine has not made it live (its
	// tests failed, or it does not compile).
	Pending     string     `json:"pending_bundle_revision,omitempty"`
	LastPoll    *time.Time `json:"last_poll,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	Polls       uint64     `json:"polls"`
	NotModified uint64     `json:"not_modified"`
	Fetches     uint64     `json:"fetches"`
	Refused     uint64     `json:"refused"`
}

// Status describes the bundle whose files are the engine's live revision liveID.
func (p *Poller) Status(liveID string) *Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &Status{URL: p.opts.URL, PollInterval: p.opts.Interval, LastError: p.lastErr,
		Polls: p.polls, NotModified: p.notModified, Fetches: p.fetches, Refused: p.refused}
	if live := p.byID[liveID]; live != nil {
		at := live.fetchedAt
		s.Revision, s.ETag, s.Signer, s.FetchedAt = live.loaded.Revision, live.etag, live.signer, &at
		s.SignerRevoked = live.revoked
	}
	if p.current != nil && p.current.id != liveID {
		s.Pending = p.current.loaded.Revision
	}
	if !p.lastPoll.IsZero() {
		at := p.lastPoll
		s.LastPoll = &at
	}
	if s.LastError != "" {
		at := p.lastErrAt
		s.LastErrorAt = &at
	}
	return s
}
