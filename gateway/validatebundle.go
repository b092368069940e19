package gateway

import (
	"net/url"
	"time"
)

// validatePolicyBundle checks policy.bundle: a URL, the CAs its signers chain to, the
// directory that keeps the live bundle across restarts, and no policy directory beside it
// (two sources of one revision would diverge).
func (c *Config) validatePolicyBundle(add func(field, format string, args ...any)) {
	b := c.Policy.Bundle
	if b == nil {
		return
	}
	if c.Policy.Dir != "" {
		add("policy.bundle", "and policy.dir are mutually exclusive: the policy comes from the bundle server or from a directory, not both")
	}
	if u, err := url.Parse(b.URL); b.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("policy.bundle.url", "%q: want an http:// or https:// URL", b.URL)
	} else if u.User != nil {
		// The URL is shown in /policy, the fleet view and the logs; a password in it would be too.
		add("policy.bundle.url", "%s: no credentials in the URL (they would be shown in /policy and the logs)", u.Redacted())
	}
	if b.Audience == "" {
		add("policy.bundle.audience", "required: the fleet's name, which bundle signatures must carry (govgate policy sign --audience); without it a bundle signed for another fleet would be taken")
	} // its form is policy/bundle's (CheckAudience), checked where the verifier is built: the core imports no policy package
	if len(b.SignersCA) == 0 {
		add("policy.bundle.signers_ca", "required: an unsigned policy bundle is never loaded")
	}
	if b.PersistDir == "" {
		add("policy.bundle.persist_dir", "required: without the last live bundle kept, a restarted gateway takes any older bundle still validly signed (a rollback by whoever serves it)")
	}
	if b.PollInterval < time.Second {
		add("policy.bundle.poll_interval", "%s: want at least 1s", b.PollInterval)
	}
	if c.Policy.SkipTests {
		add("policy.skip_tests", "not with policy.bundle: a fleet's revision goes live only when its tests pass")
	}
}
