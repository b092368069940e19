package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
)

// String is the X-Govgate-Receipt value: log=<origin>; index=<n>; leaf=<hex>.
func (r Receipt) String() string { return string(r.Append(nil)) }

// Append appends the X-Govgate-Receipt value to b: the gateway's way, without the copies
// String makes.
func (r Receipt) Append(b []byte) []byte {
	// Grown once: appended piece by piece, a receipt grew its buffer four times.
	b = slices.Grow(b, len("log=; index=; leaf=")+len(r.Origin)+20+hex.EncodedLen(len(r.Leaf)))
	b = append(b, "log="...)
	b = append(b, r.Origin...)
	b = append(b, "; index="...)
	b = strconv.AppendUint(b, r.Index, 10)
	b = append(b, "; leaf="...)
	return hex.AppendEncode(b, r.Leaf)
}

// ParseReceipt reads an X-Govgate-Receipt value.
func ParseReceipt(v string) (Receipt, error) {
	var r Receipt
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[k] {
			return Receipt{}, fmt.Errorf("receipt %q: want log=…; index=…; leaf=…", v)
		}
		seen[k] = true
		switch k {
		case "log":
			r.Origin = val
		case "index":
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return Receipt{}, fmt.Errorf("receipt index %q", val)
			}
			r.Index = n
		case "leaf":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != HashSize {
				return Receipt{}, fmt.Errorf("receipt leaf %q", val)
			}
			r.Leaf = b
		default:
			return Receipt{}, fmt.Errorf("receipt: unknown member %q", k)
		}
	}
	if r.Origin == "" || r.Leaf == nil || !seen["index"] {
		return Receipt{}, fmt.Errorf("receipt %q: want log=…; index=…; leaf=…", v)
	}
	return r, nil
}

// VerifyReceipt checks that the receipt's record is in the log the checkpoint commits to:
// same origin, an index the checkpoint covers, and an inclusion proof to its root. The
// checkpoint must already be verified (OpenCheckpoint).
func VerifyReceipt(r Receipt, c *SignedCheckpoint, inclusion [][]byte) error {
	if r.Origin != c.Origin {
		return fmt.Errorf("the receipt names log %q, the checkpoint is of %q", r.Origin, c.Origin)
	}
	if r.Index >= c.Size {
		return errors.New("the checkpoint does not yet cover the receipt's record")
	}
	if err := proof.VerifyInclusion(Hasher{}, r.Index, c.Size, r.Leaf, inclusion, c.Root); err != nil {
		return fmt.Errorf("record %d is not in the log of size %d: %w", r.Index, c.Size, err)
	}
	return nil
}
