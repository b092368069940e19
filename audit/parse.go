package audit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// errNotCanonical is any deviation from the record format's canonical bytes.
var errNotCanonical = errors.New("record is not in canonical form")

// recordParser reads a record in exactly the layout encode writes, member by member; any
// other byte sequence — whitespace, another order, an unknown or duplicate member, a
// non-canonical escape or number — is refused. It is the inverse of encode, and what makes
// verification fast enough to read a whole log.
type recordParser struct {
	b []byte
	// s is b as one string: the record's strings without an escape are substrings of it,
	// one allocation a record instead of one a member (a measured share of the shipper's
	// CPU, which parses every record it ships). A member kept keeps the record's bytes.
	s   string
	i   int
	err error
}

func (p *recordParser) fail(what string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: %s at byte %d", errNotCanonical, what, p.i)
	}
}

func (p *recordParser) lit(s string) {
	if p.err != nil {
		return
	}
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		p.fail("expected " + strconv.Quote(s))
		return
	}
	p.i += len(s)
}

func (p *recordParser) peek(s string) bool {
	return p.err == nil && len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s
}

// str reads a string as appendString writes it.
func (p *recordParser) str() string {
	p.lit(`"`)
	if p.err != nil {
		return ""
	}
	start := p.i
	simple := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if simple {
				return p.s[start : start+len(s)]
			}
			return p.unescape(s)
		case c == '\\':
			simple = false
			p.i += 2
		case c < 0x20:
			p.fail("raw control character")
			return ""
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, n := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && n == 1 {
				p.fail("invalid UTF-8")
				return ""
			}
			p.i += n
		}
	}
	p.fail("unterminated string")
	return ""
}

func (p *recordParser) unescape(s []byte) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		i++
		if i >= len(s) {
			p.fail("escape at end")
			return ""
		}
		switch s[i] {
		case '"', '\\':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(s) || s[i+1] != '0' || s[i+2] != '0' {
				p.fail("non-canonical \\u escape")
				return ""
			}
			v, err := strconv.ParseUint(string(s[i+3:i+5]), 16, 8)
			hexOK := s[i+3] == hexDigit[v>>4] && s[i+4] == hexDigit[v&0xf]
			short := v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t'
			if err != nil || v >= 0x20 || !hexOK || short {
				p.fail("non-canonical \\u escape")
				return ""
			}
			out = append(out, byte(v))
			i += 4
		default:
			p.fail("non-canonical escape")
			return ""
		}
	}
	return string(out)
}

// int reads an integer in canonical form: no leading zeros, no plus, no -0.
func (p *recordParser) int() int64 {
	if p.err != nil {
		return 0
	}
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	s := string(p.b[start:p.i])
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s {
		p.fail("non-canonical integer")
	}
	return n
}

func (p *recordParser) bool() bool {
	if p.peek("true") {
		p.i += 4
		return true
	}
	p.lit("false")
	return false
}

func (p *recordParser) strs() []string {
	p.lit("[")
	out := []string{}
	for p.err == nil && !p.peek("]") {
		if len(out) > 0 {
			p.lit(",")
		}
		out = append(out, p.str())
	}
	p.lit("]")
	return out
}

// parseRecordFast is ParseRecord without encoding/json.
func parseRecordFast(b []byte) (*Record, error) {
	p := &recordParser{b: b, s: string(b)}
	r := &Record{}
	p.lit(`{"agreement":`)
	r.Agreement = p.str()
	p.lit(`,"bytes":{"request":`)
	r.Bytes.Request = p.int()
	p.lit(`,"response":`)
	r.Bytes.Response = p.int()
	p.lit(`},"client":`)
	r.Client = p.str()
	p.lit(`,"consumer":{"cert_serial":`)
	r.Consumer.CertSerial = p.str()
	p.lit(`,"dept":`)
	r.Consumer.Dept = p.str()
	p.lit(`,"public_key":`)
	r.Consumer.PublicKey = p.str()
	p.lit(`,"system":`)
	r.Consumer.System = p.str()
	p.lit(`},"content_digest":`)
	r.ContentDigest = p.str()
	p.lit(`,"decision":`)
	if p.peek("null") {
		p.i += 4
	} else {
		d := &Decision{}
		p.lit(`{"allow":`)
		d.Allow = p.bool()
		p.lit(`,"reasons":`)
		d.Reasons = p.strs()
		p.lit(`,"revision":`)
		d.Revision = p.str()
		p.lit("}")
		r.Decision = d
	}
	p.lit(`,"error":`)
	r.Error = p.str()
	p.lit(`,"fields":`)
	r.Fields = p.strs()
	p.lit(`,"gateway":`)
	r.Gateway = p.str()
	// "kind" and "role" are in version 2 only; the version, last, says which was due.
	hasKind := p.peek(`,"kind":`)
	if hasKind {
		p.lit(`,"kind":`)
		r.Kind = Kind(p.str())
	}
	p.lit(`,"latency_us":`)
	r.LatencyMicros = p.int()
	p.lit(`,"method":`)
	r.Method = p.str()
	p.lit(`,"mode":`)
	r.Mode = p.str()
	p.lit(`,"path":`)
	r.Path = p.str()
	p.lit(`,"provider":`)
	r.Provider = p.str()
	p.lit(`,"purpose":`)
	r.Purpose = p.str()
	p.lit(`,"request_id":`)
	r.RequestID = p.str()
	p.lit(`,"resource":`)
	r.Resource = p.str()
	p.lit(`,"response_digest":`)
	r.ResponseDigest = p.str()
	hasRole := p.peek(`,"role":`)
	if hasRole {
		p.lit(`,"role":`)
		r.Role = p.str()
	}
	p.lit(`,"route":`)
	r.Route = p.str()
	p.lit(`,"seq":`)
	seq := p.int()
	if seq < 0 {
		p.fail("negative seq")
	}
	r.Seq = uint64(seq)
	p.lit(`,"signature":`)
	if p.peek("null") {
		p.i += 4
	} else {
		s := &Signature{}
		p.lit(`{"base":`)
		s.Base = p.str()
		p.lit(`,"input":`)
		s.Input = p.str()
		p.lit(`,"signature":`)
		s.Signature = p.str()
		p.lit("}")
		r.Signature = s
	}
	p.lit(`,"status":`)
	r.Status = int(p.int())
	p.lit(`,"time":`)
	ts := p.str()
	if p.peek(`,"transfer":`) {
		p.lit(`,"transfer":`)
		r.Transfer = p.transfer()
	}
	p.lit(`,"upstream":`)
	r.Upstream = p.str()
	p.lit(`,"v":`)
	r.Version = int(p.int())
	p.lit("}")
	if p.err == nil && p.i != len(b) {
		p.fail("data after the record")
	}
	if p.err != nil {
		return nil, p.err
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || t.UTC().Format(time.RFC3339Nano) != ts {
		return nil, fmt.Errorf("%w: time %q", errNotCanonical, ts)
	}
	r.Time = t
	if err := checkVersion(r, hasKind, hasRole); err != nil {
		return nil, err
	}
	return r, nil
}

// checkVersion checks that the record has the members of its version and, in version 2,
// that its members fit its kind; a version 1 record is given the kind it was written as.
func checkVersion(r *Record, hasKind, hasRole bool) error {
	switch r.Version {
	case recordVersion1:
		if hasKind || hasRole {
			return fmt.Errorf("%w: a version 1 record has no kind or role", errNotCanonical)
		}
		r.Kind = inferKind(r)
		if r.Kind == KindAdmin {
			r.Role = strings.TrimPrefix(r.Resource, "admin/")
		}
		return nil
	case RecordVersion:
		if !hasKind || !hasRole {
			return fmt.Errorf("%w: a version %d record has a kind and a role", errNotCanonical, RecordVersion)
		}
		return checkKind(r)
	}
	return fmt.Errorf("record version %d is not one this verifier knows (1 or %d)", r.Version, RecordVersion)
}

// transfer reads the members of a streamed transfer (Transfer), in canonical order.
func (p *recordParser) transfer() *Transfer {
	t := &Transfer{}
	p.lit(`{`)
	if p.peek(`"catalog_mismatch":`) {
		p.lit(`"catalog_mismatch":`)
		if t.CatalogMismatch = p.str(); t.CatalogMismatch == "" {
			p.fail("an empty catalog_mismatch is written as none")
		}
		p.lit(`,`)
	}
	p.lit(`"outcome":`)
	t.Outcome = p.str()
	if p.peek(`,"prefix_read":`) {
		p.lit(`,"prefix_read":`)
		if t.PrefixRead = p.int(); t.PrefixRead <= 0 {
			p.fail("a prefix_read of none is written as none")
		}
	}
	p.lit(`,"received":`)
	t.Received = p.int()
	p.lit(`,"received_digest":`)
	t.ReceivedDigest = p.str()
	p.lit(`,"request_digest":`)
	t.RequestDigest = p.str()
	p.lit(`,"rows":`)
	t.Rows = p.int()
	if p.peek(`,"whole_digest":`) {
		p.lit(`,"whole_digest":`)
		if t.WholeDigest = p.str(); t.WholeDigest == "" {
			p.fail("an empty whole_digest is written as none")
		}
	}
	p.lit("}")
	return t
}
