package policy

import (
	"encoding/base64"
	"slices"
	"strings"

	"github.com/govgate/govgate/crypto"
)

// ReleaseProfile names what a release cut from the provider's representation for this
// decision: the resource, the fields released with the catalog's type and label of each,
// the masks applied, and the resource's label. Two decisions with the same profile cut the
// same bytes from the same representation, so a validator the gateway states for a cut
// (gateway: the released ETag) binds the provider's validator to this profile. A policy
// reload that leaves a consumer's cut as it was leaves its profile as it was (its caches
// stay valid); one that changes a field, a mask or a label changes it. The revision id is
// deliberately not part of it: every reload would otherwise invalidate every cache.
//
// It is 16 characters of base64url (96 bits of SM3), safe inside an entity-tag.
func (d *Decision) ReleaseProfile() string {
	res := d.rev.data.Catalog[d.Resource]
	var b strings.Builder
	b.WriteString("govgate-release-profile-1\x00")
	b.WriteString(d.Resource)
	b.WriteString("\x00")
	b.WriteString(res.Classification)
	for _, f := range d.Fields { // sorted by decodeDecision
		spec := res.Fields[f]
		b.WriteString("\x00f\x00" + f + "\x00" + spec.Type + "\x00" + spec.Label)
	}
	masked := make([]string, 0, len(d.Mask))
	for f := range d.Mask {
		masked = append(masked, f)
	}
	slices.Sort(masked)
	for _, f := range masked {
		b.WriteString("\x00m\x00" + f + "\x00" + d.Mask[f])
	}
	sum := crypto.SM3([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// Published is the catalog's statement of the dataset a publish-mode resource publishes
// now: its version and size in bytes ("" and 0 when the catalog states none).
func (d *Decision) Published() (version string, sizeBytes int64) {
	res := d.rev.data.Catalog[d.Resource]
	return res.Version, res.SizeBytes
}
