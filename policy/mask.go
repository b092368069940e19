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
func (m maskRule) apply(s string) string { return string(m.appendMasked(nil, []byte(s), false)) }

// appendMasked appends s masked by m to out; quoted, as a JSON string — what json.Marshal
// gives of apply's result — so that a response is masked without a string of its own.
func (m maskRule) appendMasked(out, s []byte, quoted bool) []byte {
	if quoted {
		out = append(out, '"')
	}
	switch m.kind {
	case "redact":
		out = append(out, "***"...)
	case "sm3":
		sum := crypto.SM3(s)
		out = hex.AppendEncode(append(out, "sm3:"...), sum[:])
	default:
		count := utf8.RuneCount(s)
		// A short value would be given away by its last four characters: never show
		// more than half of it.
		keep := min(m.n, count/2)
		for i := 0; len(s) > 0; i++ {
			r, size := utf8.DecodeRune(s)
			s = s[size:]
			visible := (m.kind == "keep-first" && i < keep) || (m.kind == "keep-last" && i >= count-keep)
			switch {
			case !visible:
				out = append(out, '*')
			case quoted:
				out = appendJSONRune(out, r)
			default:
				out = utf8.AppendRune(out, r) // an invalid byte is U+FFFD, as in a range
			}
		}
	}
	if quoted {
		out = append(out, '"')
	}
	return out
}

// appendJSONRune appends r as encoding/json writes it inside a string: quotes, the
// backslash and control characters escaped, and <, >, &, U+2028 and U+2029 as \u
// escapes.
func appendJSONRune(out []byte, r rune) []byte {
	const hexDigits = "0123456789abcdef"
	switch {
	case r == '"' || r == '\\':
		return append(out, '\\', byte(r))
	case r == '\b':
		return append(out, '\\', 'b')
	case r == '\f':
		return append(out, '\\', 'f')
	case r == '\n':
		return append(out, '\\', 'n')
	case r == '\r':
		return append(out, '\\', 'r')
	case r == '\t':
		return append(out, '\\', 't')
	case r < 0x20 || r == '<' || r == '>' || r == '&':
		return append(out, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
	case r == '\u2028' || r == '\u2029':
		return append(out, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
	}
	return utf8.AppendRune(out, r)
}
