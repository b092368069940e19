package tlcp

import (
	"sync/atomic"

	"github.com/govgate/govgate/crypto/tlcp/internal/gmtls"
)

// The forms of a client's CertificateVerify, as metric label values. GB/T 38636-2020 (and
// tjfoc, Tongsuo, Kona) sign SM3 of the handshake messages; GmSSL 3.x signs the messages
// themselves. Both bind the same transcript to the same key; a listener accepts both
// unless ServerConfig.DigestVerifyOnly.
const (
	ClientVerifySM3Digest     = "sm3_digest"
	ClientVerifyRawTranscript = "raw_transcript"
)

// ClientVerifyCount is how many completed handshakes used one form.
type ClientVerifyCount struct {
	Form  string
	Count uint64
}

// ClientVerifyStats counts completed handshakes by the form of the client's
// CertificateVerify. Listeners may share one (ServerConfig.ClientVerify), so that the
// count outlives a listener a reload restarts.
type ClientVerifyStats struct {
	digest, raw atomic.Uint64
}

func (s *ClientVerifyStats) add(form gmtls.ClientVerifyForm) {
	switch form {
	case gmtls.ClientVerifySM3Digest:
		s.digest.Add(1)
	case gmtls.ClientVerifyRawTranscript:
		s.raw.Add(1)
	}
}

// Counts returns the count of every form, in a fixed order, zeros included.
func (s *ClientVerifyStats) Counts() []ClientVerifyCount {
	return []ClientVerifyCount{
		{Form: ClientVerifySM3Digest, Count: s.digest.Load()},
		{Form: ClientVerifyRawTranscript, Count: s.raw.Load()},
	}
}
