package sharedstate

import (
	"strconv"
	"strings"
)

// Keys names the keys of one fleet: prefix, then the department as a hash tag, then the
// feature's part. Names taken from peers (department, key id, nonce, agreement) are
// escaped so that no name can end the hash tag or be read as another key's part.
type Keys struct{ Prefix string }

// escaper escapes %, the hash-tag braces and the separator.
var escaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D", ":", "%3A")

// esc escapes a name for a key; the empty name is "%" (which no escaped name can be), so
// that an empty department still has a non-empty hash tag: Redis Cluster hashes the whole
// key when the tag is "{}", which would scatter a department's keys over slots.
func esc(s string) string {
	if s == "" {
		return "%"
	}
	return escaper.Replace(s)
}

func (k Keys) dept(dept string) string { return k.Prefix + "{" + esc(dept) + "}:" }

// Nonce is the claim of one signature's nonce.
func (k Keys) Nonce(dept, keyID, nonce string) string {
	return k.dept(dept) + "n:" + esc(keyID) + ":" + esc(nonce)
}

// NonceBucket counts the department's live claims whose signatures go stale in one
// bucket of time (the per-department bound).
func (k Keys) NonceBucket(dept string, bucket int64) string {
	return k.dept(dept) + "nb:" + strconv.FormatInt(bucket, 10)
}

// QuotaDay and QuotaMinute count a department's requests under an agreement in one Beijing
// day and one clock minute (policy.QuotaWindows numbers them).
func (k Keys) QuotaDay(dept, agreement string, day int64) string {
	return k.dept(dept) + "q:" + esc(agreement) + ":d:" + strconv.FormatInt(day, 10)
}

// QuotaMinute: see QuotaDay.
func (k Keys) QuotaMinute(dept, agreement string, minute int64) string {
	return k.dept(dept) + "q:" + esc(agreement) + ":m:" + strconv.FormatInt(minute, 10)
}

// Marker is the key one gateway process (id: random, per start) sets when it starts and
// watches: its absence says Redis lost the fleet's state.
func (k Keys) Marker(id string) string { return k.Prefix + "{marker}:" + esc(id) }

// VolumeDay holds what a department's streamed transfers released under an agreement in
// one Beijing day: a hash of rows (r) and bytes (b).
func (k Keys) VolumeDay(dept, agreement string, day int64) string {
	return k.dept(dept) + "v:" + esc(agreement) + ":d:" + strconv.FormatInt(day, 10)
}
