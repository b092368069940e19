package index

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// pgxTuple is a row's tuple as pgx's type map encodes each value in the binary format
// (what CopyFrom sent before copybin.go), for the columns' types.
func pgxTuple(t *testing.T, r *Row) []byte {
	t.Helper()
	oids := []uint32{pgtype.TextOID, pgtype.Int8OID, pgtype.TimestamptzOID, pgtype.DateOID, pgtype.TextOID, pgtype.BoolOID}
	for range 12 {
		oids = append(oids, pgtype.TextOID)
	}
	oids = append(oids, pgtype.BoolOID, pgtype.TextArrayOID, pgtype.TextOID, pgtype.Int4OID, pgtype.TextOID, pgtype.TextOID,
		pgtype.Int8OID, pgtype.Int8OID, pgtype.TextArrayOID, pgtype.TextOID, pgtype.ByteaOID, pgtype.ByteaOID)
	m := pgtype.NewMap()
	out := binary.BigEndian.AppendUint16(nil, uint16(len(columns)))
	for i, v := range r.values() {
		if b, ok := v.(*bool); ok && b == nil {
			out = binary.BigEndian.AppendUint32(out, 0xffffffff)
			continue
		}
		if ss, ok := v.([]string); ok && len(ss) == 0 {
			// pgx writes an empty array as one dimension of length 0, Encode as no
			// dimension: PostgreSQL stores both as '{}' (TestBinaryCopyMatchesPgx).
			out = binary.BigEndian.AppendUint32(out, 12)
			out = binary.BigEndian.AppendUint32(out, 0)
			out = binary.BigEndian.AppendUint32(out, 0)
			out = binary.BigEndian.AppendUint32(out, pgtype.TextOID)
			continue
		}
		enc, err := m.Encode(oids[i], pgtype.BinaryFormatCode, v, nil)
		if err != nil {
			t.Fatalf("pgx encodes column %s: %v", columns[i], err)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
	}
	return out
}

// Row.Encode writes, for any values, the bytes pgx's type map writes for them.
func FuzzRowEncodeMatchesPgx(f *testing.F) {
	f.Add("o", int64(0), int64(0), int64(0), "", "a\x00b", "x,y", int64(-1), int64(1<<62), int32(-1), byte(0), []byte{})
	f.Add("长", int64(-1<<40), int64(253402300799), int64(999999999), `"`, "{}", "", int64(-1<<63), int64(1<<63-1), int32(1<<31-1), byte(7), []byte{0})
	f.Add("", int64(1<<62), int64(-62135596800), int64(1), "NULL", "\\", "\x00", int64(0), int64(0), int32(-1<<31), byte(2), []byte("x"))
	f.Fuzz(func(t *testing.T, s string, idx, sec, nsec int64, a, b, c string, n1, n2 int64, st int32, flags byte, blob []byte) {
		const minSec, maxSec = -62135596800, 253402300799 // years 1 to 9999
		sec = minSec + (sec%(maxSec-minSec)+(maxSec-minSec))%(maxSec-minSec)
		at := time.Unix(sec, (nsec%1e9+1e9)%1e9).UTC().Truncate(time.Microsecond)
		y, mo, d := at.Date()
		allow := flags&1 != 0
		r := Row{Origin: s, Index: uint64(idx), Time: at, Day: time.Date(y, mo, d, 0, 0, 0, 0, time.UTC), Kind: a,
			Sharing: flags&2 != 0, Gateway: b, RequestID: c, ConsumerDept: s + a, Method: strings.Repeat(c, 3),
			Reasons: []string{}, Fields: []string{}, Error: b, Status: st, Outcome: a, BytesRequest: n1, BytesResponse: n2,
			PolicyRevision: c, Leaf: blob, Record: append([]byte(s), blob...)}
		if flags&4 != 0 {
			r.Allow = &allow
		}
		if flags&8 != 0 {
			r.Reasons = []string{a, "", b}
		}
		if flags&16 != 0 {
			r.Fields = []string{c}
		}
		r.Encode()
		if want := pgxTuple(t, &r); !bytes.Equal(r.tuple, want) {
			t.Fatalf("Encode wrote\n%x\npgx writes\n%x", r.tuple, want)
		}
	})
}
