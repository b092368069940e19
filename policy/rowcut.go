package policy

import (
	"bytes"
	"encoding/json"
	"mime"
	"slices"
	"unicode/utf8"
)

// RowCutter releases a tabular stream row by row: each complete row at the start of what
// it is given is cut down to the decision's fields and masked, and the rest — a row not yet
// complete — is left for the caller to give again with more bytes behind it. It holds no
// more than one row's state, so a stream of any length is released in the caller's window.
type RowCutter interface {
	// Cut appends the released form of every complete row at the start of src to dst, and
	// returns it, the bytes of src consumed and the data rows released (a CSV header row
	// is not counted). final says src is the end of the stream: an incomplete row is then
	// malformed. An error is a *ReleaseError; the stream cannot be cut past it.
	Cut(dst, src []byte, final bool) (out []byte, used, rows int, err error)
}

// Tabular media types released row by row.
const (
	MediaCSV    = "text/csv"
	MediaNDJSON = "application/x-ndjson"
	MediaJSONL  = "application/jsonl"
)

// TabularType returns the media type of a Content-Type that is released row by row, or ""
// when it is not one. Rows are cut as UTF-8: a charset other than utf-8 is not tabular
// here, since a consumer reading the bytes in it could find other fields than the cut did.
func TabularType(contentType string) string {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch mt {
	case MediaCSV, MediaNDJSON, MediaJSONL:
		if cs, ok := params["charset"]; ok && !equalFoldASCII(cs, "utf-8") {
			return ""
		}
		return mt
	}
	return ""
}

func equalFoldASCII(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// RowCutter returns the cutter for a tabular media type (TabularType), or a refusal when
// the response is of no type this decision can cut row by row.
func (d *Decision) RowCutter(mediaType string) (RowCutter, error) {
	switch mediaType {
	case MediaCSV:
		return &csvCutter{d: d, types: d.rev.data.Catalog[d.Resource].Fields}, nil
	case MediaNDJSON, MediaJSONL:
		return &ndjsonCutter{d: d, types: d.rev.data.Catalog[d.Resource].Fields}, nil
	}
	return nil, refused("RESPONSE_NOT_TABULAR", "the provider's response is neither CSV nor NDJSON, and this resource is released only row by row")
}

// ndjsonCutter cuts newline-delimited JSON: every line an object, cut as FilterJSON cuts
// one. Blank lines carry nothing and are dropped.
type ndjsonCutter struct {
	d     *Decision
	types map[string]FieldSpec
	row   int
}

func (c *ndjsonCutter) Cut(dst, src []byte, final bool) ([]byte, int, int, error) {
	used, rows := 0, 0
	for used < len(src) {
		nl := bytes.IndexByte(src[used:], '\n')
		var line []byte
		next := 0
		switch {
		case nl >= 0:
			line, next = src[used:used+nl], used+nl+1
		case final:
			line, next = src[used:], len(src)
		default:
			return dst, used, rows, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			c.row++
			// json.Valid admits bytes that are not UTF-8; RFC 8259 does not.
			if line[0] != '{' || !json.Valid(line) || !utf8.Valid(line) {
				return dst, used, rows, refused("ROW_MALFORMED", "line %d of the provider's NDJSON is not a JSON object", c.row)
			}
			var err error
			if dst, err = c.d.filterObject(dst, line, c.types); err != nil {
				return dst, used, rows, err
			}
			dst = append(dst, '\n')
			rows++
		}
		used = next
	}
	return dst, used, rows, nil
}

// csvCutter cuts RFC 4180 CSV in UTF-8 with a header row: the header names the columns,
// every one of which must be a field the catalog declares for the resource (a column
// nobody catalogued is data no agreement names); the released columns are those the
// decision allows, in the header's order. Rows end in CRLF or LF; the released stream ends
// its rows as the header row ended. A leading byte order mark is dropped.
type csvCutter struct {
	d       *Decision
	types   map[string]FieldSpec
	started bool  // the header row is cut
	bomDone bool  // the stream's first bytes were checked for a byte order mark
	width   int   // columns in the header
	keep    []int // indices of released columns
	masks   []*maskRule
	eol     string // "\r\n" or "\n", as the header row ended
	row     int    // data rows seen, for errors
	scratch []byte // unquoted field bytes of the row being read
	fields  [][2]int
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func (c *csvCutter) Cut(dst, src []byte, final bool) ([]byte, int, int, error) {
	used, rows := 0, 0
	if !c.bomDone {
		if len(src) < len(utf8BOM) && bytes.HasPrefix(utf8BOM, src) && !final {
			return dst, 0, 0, nil // perhaps a BOM not yet whole
		}
		// Only the stream's first bytes: a second mark is part of the header's first name.
		c.bomDone = true
		if bytes.HasPrefix(src, utf8BOM) {
			used = len(utf8BOM)
		}
	}
	for used < len(src) {
		n, eol, ok, err := c.readRecord(src[used:], final)
		if err != nil {
			return dst, used, rows, err
		}
		if !ok {
			return dst, used, rows, nil
		}
		if !c.started {
			if err := c.header(eol); err != nil {
				return dst, used, rows, err
			}
		} else {
			c.row++
			if len(c.fields) != c.width {
				return dst, used, rows, refused("ROW_MALFORMED", "row %d of the provider's CSV has %d fields where the header has %d", c.row, len(c.fields), c.width)
			}
			rows++
		}
		dst = c.appendRow(dst)
		used += n
	}
	return dst, used, rows, nil
}

// header takes the row just read as the header.
func (c *csvCutter) header(eol string) error {
	c.started, c.width, c.eol = true, len(c.fields), eol
	seen := make(map[string]bool, len(c.fields))
	for i, f := range c.fields {
		name := string(c.scratch[f[0]:f[1]])
		if _, ok := c.types[name]; !ok {
			return refused("CSV_UNKNOWN_COLUMN", "column %d of the provider's CSV header, %q, is not a field the catalog declares for this resource", i+1, name)
		}
		if seen[name] {
			return refused("CSV_DUPLICATE_COLUMN", "column %q appears twice in the provider's CSV header", name)
		}
		seen[name] = true
		if _, ok := slices.BinarySearch(c.d.Fields, name); ok {
			c.keep = append(c.keep, i)
			if m, ok := c.d.masks[name]; ok {
				c.masks = append(c.masks, &m)
			} else {
				c.masks = append(c.masks, nil)
			}
		}
	}
	if len(c.keep) == 0 {
		return refused("CSV_NO_RELEASED_COLUMN", "no column of the provider's CSV is a field this exchange may receive")
	}
	return nil
}

// appendRow appends the released columns of the row just read; the header row is written
// unmasked, since it carries names, not data.
func (c *csvCutter) appendRow(dst []byte) []byte {
	header := c.row == 0
	for k, i := range c.keep {
		if k > 0 {
			dst = append(dst, ',')
		}
		v := c.scratch[c.fields[i][0]:c.fields[i][1]]
		if m := c.masks[k]; m != nil && !header {
			v = []byte(m.apply(string(v)))
		}
		if len(v) == 0 && len(c.keep) == 1 {
			// A row of one empty field would be an empty line, which CSV readers skip.
			dst = append(dst, `""`...)
			continue
		}
		dst = appendCSVField(dst, v)
	}
	return append(dst, c.eol...)
}

// appendCSVField writes one field, quoted when it holds a separator, a quote or a line
// break (RFC 4180 §2.6–2.7).
func appendCSVField(dst, v []byte) []byte {
	if bytes.IndexAny(v, ",\"\r\n") < 0 {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for _, b := range v {
		if b == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, b)
	}
	return append(dst, '"')
}

// readRecord reads one record at the start of src into c.fields (offsets into c.scratch).
// It returns the bytes the record takes with its line end, that line end, and ok=false
// when src does not hold the whole record yet.
func (c *csvCutter) readRecord(src []byte, final bool) (n int, eol string, ok bool, err error) {
	c.scratch, c.fields = c.scratch[:0], c.fields[:0]
	i := 0
	for {
		start := len(c.scratch)
		var more bool
		if i < len(src) && src[i] == '"' {
			i, more, err = c.quoted(src, i+1, final)
		} else {
			i, more, err = c.unquoted(src, i, final)
		}
		if err != nil || more {
			return 0, "", false, err
		}
		c.fields = append(c.fields, [2]int{start, len(c.scratch)})
		if !utf8.Valid(c.scratch[start:]) {
			return 0, "", false, c.malformed("a field that is not UTF-8")
		}
		switch {
		case i == len(src): // only when final: the last record has no line end
			return i, "", true, nil
		case src[i] == ',':
			i++
		case src[i] == '\n':
			return i + 1, "\n", true, nil
		case src[i] == '\r':
			if i+1 == len(src) {
				if !final {
					return 0, "", false, nil
				}
				return 0, "", false, c.malformed("a carriage return without a line feed")
			}
			if src[i+1] != '\n' {
				return 0, "", false, c.malformed("a carriage return without a line feed")
			}
			return i + 2, "\r\n", true, nil
		}
	}
}

// unquoted reads a field that does not start with a quote, up to a separator or line end.
func (c *csvCutter) unquoted(src []byte, i int, final bool) (int, bool, error) {
	j := i
	for j < len(src) {
		switch src[j] {
		case ',', '\n', '\r':
			c.scratch = append(c.scratch, src[i:j]...)
			return j, false, nil
		case '"':
			return 0, false, c.malformed("a quote inside an unquoted field")
		}
		j++
	}
	if !final {
		return 0, true, nil
	}
	c.scratch = append(c.scratch, src[i:j]...)
	return j, false, nil
}

// quoted reads a quoted field from just after its opening quote; "" is a quote.
func (c *csvCutter) quoted(src []byte, i int, final bool) (int, bool, error) {
	for {
		q := bytes.IndexByte(src[i:], '"')
		if q < 0 {
			if !final {
				return 0, true, nil
			}
			return 0, false, c.malformed("a quoted field that is never closed")
		}
		c.scratch = append(c.scratch, src[i:i+q]...)
		i += q + 1
		if i == len(src) {
			if !final {
				return 0, true, nil // "" split across reads, or the field's end
			}
			return i, false, nil
		}
		switch src[i] {
		case '"':
			c.scratch = append(c.scratch, '"')
			i++
		case ',', '\n', '\r':
			return i, false, nil
		default:
			return 0, false, c.malformed("a character after a closing quote")
		}
	}
}

func (c *csvCutter) malformed(what string) *ReleaseError {
	if !c.started {
		return refused("ROW_MALFORMED", "the provider's CSV header has %s", what)
	}
	return refused("ROW_MALFORMED", "row %d of the provider's CSV has %s", c.row+1, what)
}
