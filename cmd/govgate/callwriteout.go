package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/govgate/govgate/client"
)

// writeOutHelp documents the subset of curl's --write-out variables govgate call knows.
const writeOutHelp = "after the call, print FORMAT to stdout with %{http_code} (also %{response_code}), %{size_download}, %{content_type}, " +
	"%{url_effective}, %{method}, %{time_total} (seconds), %{json} (all of them, the request id, the receipt and its verdict as one JSON object), " +
	"%header{NAME} (a response header) and \\n \\t \\r %%; an unknown variable is refused"

// writeOut expands a --write-out format for one finished call.
type writeOut struct {
	resp    *client.Response
	url     string
	method  string
	elapsed time.Duration
	// receiptVerified is the verdict of --verify-receipt; nil when it was not asked.
	receiptVerified *bool
}

func (w writeOut) expand(format string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		switch ch := format[i]; {
		case ch == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\':
				b.WriteByte('\\')
			default:
				b.WriteByte('\\')
				b.WriteByte(format[i])
			}
		case ch == '%' && strings.HasPrefix(format[i:], "%%"):
			b.WriteByte('%')
			i++
		case ch == '%' && strings.HasPrefix(format[i:], "%{"):
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("--write-out: unclosed %%{ in %q", format)
			}
			v, err := w.variable(format[i+2 : i+end])
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		case ch == '%' && strings.HasPrefix(format[i:], "%header{"):
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("--write-out: unclosed %%header{ in %q", format)
			}
			b.WriteString(http.Header(w.resp.Header).Get(format[i+len("%header{") : i+end]))
			i += end
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), nil
}

func (w writeOut) variable(name string) (string, error) {
	switch name {
	case "http_code", "response_code":
		return fmt.Sprintf("%03d", w.resp.Status), nil
	case "size_download":
		return strconv.FormatInt(w.resp.Size, 10), nil
	case "content_type":
		return http.Header(w.resp.Header).Get("Content-Type"), nil
	case "url_effective":
		return w.url, nil
	case "method":
		return w.method, nil
	case "time_total":
		return strconv.FormatFloat(w.elapsed.Seconds(), 'f', 6, 64), nil
	case "json":
		return w.json()
	}
	return "", fmt.Errorf("--write-out: unknown variable %%{%s} (known: http_code, response_code, size_download, content_type, url_effective, method, time_total, json; %%header{NAME})", name)
}

// callJSON is --write-out '%{json}' (docs/architecture.md): curl's variables by curl's
// names, and what govgate adds: the request id, the receipt and its verdict.
type callJSON struct {
	HTTPCode        int     `json:"http_code"`
	Method          string  `json:"method"`
	URLEffective    string  `json:"url_effective"`
	ContentType     string  `json:"content_type"`
	SizeDownload    int64   `json:"size_download"`
	TimeTotal       float64 `json:"time_total"`
	RequestID       string  `json:"request_id"`
	Receipt         string  `json:"receipt"`     // empty when the answer carries none
	RecordKind      string  `json:"record_kind"` // "admin" from the admin API
	ReceiptVerified *bool   `json:"receipt_verified"`
}

func (w writeOut) json() (string, error) {
	b, err := json.Marshal(callJSON{
		HTTPCode: w.resp.Status, Method: w.method, URLEffective: w.url,
		ContentType: http.Header(w.resp.Header).Get("Content-Type"), SizeDownload: w.resp.Size,
		TimeTotal: w.elapsed.Seconds(), RequestID: w.resp.RequestID, Receipt: w.resp.Receipt,
		RecordKind: w.resp.RecordKind, ReceiptVerified: w.receiptVerified,
	})
	return string(b), err
}
