package index

import (
	"encoding/binary"
	"net"
	"time"
)

// PostgreSQL's binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html,
// "Binary Format"), written by hand for the records table's columns: pgx's CopyFrom
// encodes each value through its type map (an interface lookup and a plan per value, 30
// values a row), which was a measured share of the shipper's CPU per record; a row's
// tuple is encoded once, on the core that verified its record (Row.Encode).

// copyHeader starts a binary COPY stream: the signature, no flags, no header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends it: a tuple of -1 fields.
var copyTrailer = []byte{0xff, 0xff}

// pgEpochUnix is the zero of PostgreSQL's timestamps and dates, 2000-01-01 UTC, in Unix
// seconds. Times are counted from it through Unix seconds, not time.Time.Sub: a Duration
// holds ±292 years, and a record's time is what its gateway's clock said (a time.Sub of
// year 2500 saturates, is stored as 2292 and fails its batch for want of a partition).
const pgEpochUnix = 946684800

// textOID is the type of text[]'s elements.
const textOID = 25

type tupleWriter struct{ b []byte }

func (w *tupleWriter) field(n int) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(n)) }

func (w *tupleWriter) text(s string) {
	w.field(len(s))
	w.b = append(w.b, s...)
}

func (w *tupleWriter) bytea(v []byte) {
	w.field(len(v))
	w.b = append(w.b, v...)
}

func (w *tupleWriter) int8(v int64) {
	w.field(8)
	w.b = binary.BigEndian.AppendUint64(w.b, uint64(v))
}

func (w *tupleWriter) int4(v int32) {
	w.field(4)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(v))
}

func (w *tupleWriter) bool(v bool) {
	w.field(1)
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *tupleWriter) null() { w.b = binary.BigEndian.AppendUint32(w.b, 0xffffffff) }

// timestamptz is microseconds since 2000-01-01 UTC (t is whole microseconds: NewRow).
func (w *tupleWriter) timestamptz(t time.Time) {
	w.int8((t.Unix()-pgEpochUnix)*1e6 + int64(t.Nanosecond()/1e3))
}

// date is days since 2000-01-01; t is midnight UTC of the day (Row.Day), else its day.
func (w *tupleWriter) date(t time.Time) {
	s := t.Unix() - pgEpochUnix
	d := s / 86400
	if s%86400 < 0 {
		d-- // the day before 2000 that holds t, not the one after
	}
	w.int4(int32(d))
}

// textArray is a one-dimensional text[] with lower bound 1 (none when empty), no NULLs.
func (w *tupleWriter) textArray(ss []string) {
	size := 12
	if len(ss) > 0 {
		size += 8
	}
	for _, s := range ss {
		size += 4 + len(s)
	}
	w.field(size)
	dims := uint32(0)
	if len(ss) > 0 {
		dims = 1
	}
	w.b = binary.BigEndian.AppendUint32(w.b, dims)
	w.b = binary.BigEndian.AppendUint32(w.b, 0) // no NULL element
	w.b = binary.BigEndian.AppendUint32(w.b, textOID)
	if len(ss) > 0 {
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(ss)))
		w.b = binary.BigEndian.AppendUint32(w.b, 1)
	}
	for _, s := range ss {
		w.text(s)
	}
}

// Encode makes the row's tuple in the binary COPY format, once: the shipper calls it on
// the core that verified the record, so that copying a batch only sends bytes. A row not
// encoded is encoded when it is copied.
func (r *Row) Encode() {
	w := tupleWriter{b: make([]byte, 0, r.tupleSize())}
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(columns)))
	w.text(r.Origin)
	w.int8(int64(r.Index))
	w.timestamptz(r.Time)
	w.date(r.Day)
	w.text(r.Kind)
	w.bool(r.Sharing)
	for _, s := range []string{r.Gateway, r.RequestID, r.ConsumerDept, r.ConsumerSystem, r.ProviderDept,
		r.Pool, r.Route, r.Resource, r.Agreement, r.Purpose, r.Mode, r.Method} {
		w.text(s)
	}
	if r.Allow == nil {
		w.null()
	} else {
		w.bool(*r.Allow)
	}
	w.textArray(r.Reasons)
	w.text(r.Error)
	w.int4(r.Status)
	w.text(r.Outcome)
	w.text(r.Reason)
	w.int8(r.BytesRequest)
	w.int8(r.BytesResponse)
	w.textArray(r.Fields)
	w.text(r.PolicyRevision)
	w.bytea(r.Leaf)
	w.bytea(r.Record)
	r.tuple = w.b
}

// tupleSize is the length of the row's tuple: Encode allocates it once. An estimate short
// of it grew the buffer at the record's bytes, the last and largest field (copying and
// clearing twice the tuple: a measured share of the shipper's CPU per record).
func (r *Row) tupleSize() int {
	const head = 4 // each field's length
	n := 2 + len(columns)*head
	n += 8 + 8 + 4 + 1 + 4 + 8 + 8 // idx, t, day, sharing, status, bytes_request, bytes_response
	if r.Allow != nil {
		n++
	}
	for _, s := range [...]string{r.Origin, r.Kind, r.Gateway, r.RequestID, r.ConsumerDept, r.ConsumerSystem, r.ProviderDept,
		r.Pool, r.Route, r.Resource, r.Agreement, r.Purpose, r.Mode, r.Method, r.Error, r.Outcome, r.Reason, r.PolicyRevision} {
		n += len(s)
	}
	for _, ss := range [...][]string{r.Reasons, r.Fields} {
		n += 12 // dimensions, flags, element type
		if len(ss) > 0 {
			n += 8 // the dimension's length and lower bound
		}
		for _, s := range ss {
			n += head + len(s)
		}
	}
	return n + len(r.Leaf) + len(r.Record)
}

// copySQL copies the tuples Encode makes.
var copySQL = "COPY records (" + joinColumns() + ") FROM STDIN (FORMAT binary)"

// copyStream is the COPY data of rows: the header, each row's tuple, the trailer.
func copyStream(rows []Row) *net.Buffers {
	bufs := make(net.Buffers, 0, len(rows)+2)
	bufs = append(bufs, copyHeader)
	for i := range rows {
		if rows[i].tuple == nil {
			rows[i].Encode()
		}
		bufs = append(bufs, rows[i].tuple)
	}
	bufs = append(bufs, copyTrailer)
	return &bufs
}
