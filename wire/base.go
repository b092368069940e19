package wire

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dunglas/httpsfv"
)

// Message is a request as a signature sees it. Header returns every value of a field,
// named in lower case; the client, the gateway and the audit verifier each adapt their
// own request, or record, to it.
type Message struct {
	Method    string
	Scheme    string // "https" or "http", for @scheme and @target-uri
	Authority string // host, and port when not the default
	Path      string // the raw path of the target, as sent
	Query     string // the raw query without '?', "" when absent
	Header    func(name string) []string
}

// RequestMessage is the Message of a request as the profile signs it. target is the
// request target as sent: in origin form ("/p?q"), or in absolute form, whose path and
// query are taken, since RFC 9421's @path is the target URI's path. The scheme is https:
// a signed request travels over TLCP.
func RequestMessage(method, authority, target string, header func(name string) []string) *Message {
	path, query, _ := strings.Cut(target, "?")
	if path != "" && path[0] != '/' {
		path = absolutePath(path)
	}
	if path == "" {
		path = "/"
	}
	return &Message{Method: method, Scheme: "https", Authority: authority, Path: path, Query: query, Header: header}
}

// absolutePath is the path of an absolute-form target without its query (scheme, "://",
// authority, path), or target itself when it has none.
func absolutePath(target string) string {
	t, _, _ := strings.Cut(target, "#")
	if i := strings.Index(t, "://"); i > 0 {
		if j := strings.IndexByte(t[i+3:], '/'); j >= 0 {
			return t[i+3+j:]
		}
	}
	return target
}

// AbsentError is a covered field the message does not carry: RFC 9421 §2.5 makes that an
// error, not an empty value.
type AbsentError struct{ Name string }

func (e *AbsentError) Error() string {
	return fmt.Sprintf("covered field %q is absent from the request", e.Name)
}

// SignatureBase builds the signature base of RFC 9421 §2.5 for the covered components and
// parameters in sigParams. Derived components @method, @authority, @path, @query,
// @scheme, @target-uri and @request-target are supported; component parameters are not.
// It is the one builder: the client signs, the gateway verifies and the audit verifier
// compares what it returns.
func SignatureBase(m *Message, sigParams httpsfv.InnerList) (string, error) {
	var b strings.Builder
	seen := map[string]bool{}
	for _, item := range sigParams.Items {
		name, ok := item.Value.(string)
		if !ok {
			return "", fmt.Errorf("covered component %v is not a string", item.Value)
		}
		if item.Params != nil && len(item.Params.Names()) > 0 {
			return "", fmt.Errorf("covered component %q: component parameters are not supported", name)
		}
		if seen[name] {
			return "", fmt.Errorf("covered component %q is listed twice", name)
		}
		seen[name] = true
		value, err := componentValue(m, name)
		if err != nil {
			return "", err
		}
		b.WriteString(strconv.Quote(name))
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteByte('\n')
	}
	params, err := httpsfv.Marshal(httpsfv.List{sigParams})
	if err != nil {
		return "", fmt.Errorf("signature parameters: %w", err)
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(params)
	return b.String(), nil
}

func componentValue(m *Message, name string) (string, error) {
	switch name {
	case "@method":
		return m.Method, nil
	case "@authority":
		return strings.ToLower(m.Authority), nil
	case "@scheme":
		return strings.ToLower(m.Scheme), nil
	case "@path":
		if m.Path == "" {
			return "/", nil
		}
		return m.Path, nil
	case "@query":
		return "?" + m.Query, nil
	case "@request-target":
		if m.Query == "" {
			return m.Path, nil
		}
		return m.Path + "?" + m.Query, nil
	case "@target-uri":
		v := strings.ToLower(m.Scheme) + "://" + strings.ToLower(m.Authority) + m.Path
		if m.Query != "" {
			v += "?" + m.Query
		}
		return v, nil
	}
	if strings.HasPrefix(name, "@") {
		return "", fmt.Errorf("derived component %q is not supported", name)
	}
	if name != strings.ToLower(name) {
		return "", fmt.Errorf("covered field %q is not in lower case", name)
	}
	values := m.Header(name)
	if len(values) == 0 {
		return "", &AbsentError{Name: name}
	}
	for i, v := range values {
		values[i] = strings.TrimSpace(v)
	}
	return strings.Join(values, ", "), nil
}
