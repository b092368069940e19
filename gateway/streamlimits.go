package gateway

import "time"

// The bounds of a streamed transfer. Memory does not grow with a transfer's size: each one
// in flight holds one window of the provider's bytes (StreamWindow), the released rows cut
// from it (at most about a window more; masks may lengthen a row), the upstream client's
// read buffer (16 KiB) and fasthttp's copy buffer towards the consumer — some 300 KiB in
// all, whatever the dataset's size. A row longer than the window cannot be cut and ends
// the transfer (ROW_TOO_LARGE).
const (
	// StreamWindow is the bytes of the provider's body one transfer holds at once.
	StreamWindow = 128 << 10
	// DefaultMaxTransferBytes bounds what one streamed transfer reads from its provider
	// (routes[].max_response_bytes on an exchange or publish route): 8 GiB.
	DefaultMaxTransferBytes = 8 << 30
	// DefaultTransferTimeout bounds one streamed transfer (routes[].transfer_timeout).
	DefaultTransferTimeout = time.Hour
)

// Streams reports whether routes of this mode stream their bodies: exchange (交换) and
// publish (发布) move datasets, which are not buffered whole; a query (查询) is.
func (m Mode) Streams() bool { return m == ModeExchange || m == ModePublish }

func validateStreamLimits(r Route, f string, add addFunc) {
	if r.MaxResponseBytes < 0 {
		add(f+".max_response_bytes", "must not be negative")
	}
	if r.TransferTimeout < 0 {
		add(f+".transfer_timeout", "must not be negative")
	}
	switch r.ResumeDigest {
	case "", ResumeDigestPrefix, ResumeDigestOff:
	default:
		add(f+".resume_digest", "%q is not one of prefix, off", r.ResumeDigest)
	}
	if !r.Mode.Streams() && r.ResumeDigest != "" {
		add(f+".resume_digest", "states the whole digest of streamed transfers, of exchange and publish routes")
	}
	if !r.Mode.Streams() && (r.MaxResponseBytes != 0 || r.TransferTimeout != 0) {
		add(f+".mode", "max_response_bytes and transfer_timeout bound streamed transfers, of exchange and publish routes; a query route's responses are bounded by its pool's max_response_bytes")
	}
}

// transferLimits are the route's bounds of a streamed transfer, with their defaults for a
// route built without Load (which applies them to every route it reads).
func (r *Route) transferLimits() (maxBytes int64, timeout time.Duration) {
	maxBytes, timeout = r.MaxResponseBytes, r.TransferTimeout
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTransferBytes
	}
	if timeout <= 0 {
		timeout = DefaultTransferTimeout
	}
	return maxBytes, timeout
}
