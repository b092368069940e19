package record

import (
	"bytes"
	"strings"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/policy"
)

// catalogMismatch compares the catalog's statement of a published dataset (its version
// and size_bytes, the publisher's word in the policy data) with what the provider served
// on a complete 200 of a publish route, and names what disagrees ("size", "version" or
// "size,version"; "" when nothing does or nothing can be compared). The size is the bytes
// read from the provider. The version is compared only with a strong ETag, by the
// convention the catalog documents: the ETag's opaque-tag is the version, or starts with
// the version and "-". A mismatch is not refused — the provider's data is what it is, and
// the catalog lags it between a publication and the policy data update that announces it —
// but it is on the record and counted, so a stale or wrong catalog is seen.
func catalogMismatch(d *policy.Decision, x *gateway.Exchange, status int, t *audit.Transfer) string {
	if x.Route == nil || x.Route.Mode != gateway.ModePublish || status != 200 || t.Outcome != audit.TransferCompleted {
		return ""
	}
	version, size := d.Published()
	var out []string
	if size > 0 && t.Received != size {
		out = append(out, "size")
	}
	if tag := x.ProviderETag(); version != "" && tag != nil && !versionTag(tag, version) {
		out = append(out, "version")
	}
	return strings.Join(out, ",")
}

// versionTag reports whether the entity-tag (quotes included) names version.
func versionTag(tag []byte, version string) bool {
	opaque := bytes.Trim(tag, `"`)
	rest, ok := bytes.CutPrefix(opaque, []byte(version))
	return ok && (len(rest) == 0 || rest[0] == '-')
}
