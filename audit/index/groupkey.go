package index

import (
	"crypto/sha256"
	"encoding/binary"
)

// groupKey is a roll-up group's key, the group_key column (migration 0005; its SQL twin is
// rollup_group_key): SHA-256 over the group's texts, each as its length (4 bytes,
// big-endian) then its bytes, so that no two different groups have the same input. The
// upsert compares the texts too (addRollup): a key shared by two groups never merges them.
func groupKey(k *rollupKey) []byte {
	var buf [512]byte
	b := buf[:0]
	for _, s := range [...]string{k.origin, k.kind, k.consumer, k.provider, k.pool, k.resource, k.agreement, k.reason, k.outcome} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	return sum[:]
}
