package policy

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/govgate/govgate/crypto"
)

// maskRule is one masking obligation of an agreement (脱敏): keep-last-N, keep-first-N,
// redact, or sm3 (a pseudonym: the SM3 digest of the value, equal values staying equal).
type maskRule struct {
	kind string
	n    int
}

func parseMask(rule string) (maskRule, error) {
	switch rule {
	case "redact", "sm3":
		return maskRule{kind: rule}, nil
	}
	for _, kind := range []string{"keep-last-", "keep-first-"} {
		if rest, ok := strings.CutPrefix(rule, kind); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 || n > 64 {
				return maskRule{}, fmt.Errorf("mask %q: N must be a number from 0 to 64", rule)
			}
			return maskRule{kind: strings.TrimSuffix(kind, "-"), n: n}, nil
		}
	}
	return maskRule{}, fmt.Errorf("unknown mask %q: want keep-last-N, keep-first-N, redact or sm3", rule)
}

// apply masks s by characters, not bytes, so that 张伟 becomes 张*, never half a rune.
func (m maskRule) apply(s string) string {
	switch m.kind {
	case "redact":
		return "***"
	case "sm3":
		sum := crypto.SM3([]byte(s))
		return "sm3:" + hex.EncodeToString(sum[:])
	}
	count := utf8.RuneCountInString(s)
	// A short value would be given away by its last four characters: never show more
	// than half of it.
	keep := min(m.n, count/2)
	var b strings.Builder
	i := 0
	for _, r := range s {
		visible := (m.kind == "keep-first" && i < keep) || (m.kind == "keep-last" && i >= count-keep)
		if visible {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}
