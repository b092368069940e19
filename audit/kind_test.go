package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminRecord is the outcome record of an operator's POST /reload on a plain loopback API.
func adminRecord() *Record {
	return &Record{
		Kind: KindAdmin, Role: "operator", Seq: 7, Time: time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC), Gateway: "gw-1",
		RequestID: "adm-1", Client: "127.0.0.1:40000", Method: "POST", Path: "/reload", Status: 200, Fields: []string{},
		Version: RecordVersion,
	}
}

// TestRecordKindsFitTheirMembers: each kind round-trips; a record whose kind is unknown or
// missing, or whose members are another kind's, is refused by the parser (so by verify,
// the report and every reader) and by Append (so the log never holds one), with a reason
// naming what does not fit.
func TestRecordKindsFitTheirMembers(t *testing.T) {
	catalog := &Record{Kind: KindCatalog, Time: time.Unix(1, 0), Method: "GET", Path: "/.well-known/govgate/catalog", Status: 200,
		Consumer: Consumer{Dept: "110000-rensheju"}, Fields: []string{}}
	refusal := &Record{Kind: KindRefusal, Time: time.Unix(1, 0), Method: "GET", Path: "/nowhere", Error: "not_found", Status: 404, Fields: []string{}}
	for name, r := range map[string]*Record{"exchange": sampleRecord(), "admin": adminRecord(), "catalog": catalog, "refusal": refusal} {
		b := r.Encode()
		back, err := ParseRecord(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if back.Kind != r.Kind || !bytes.Equal(back.Encode(), b) {
			t.Errorf("%s: round trip %s", name, back.Encode())
		}
	}
	for name, c := range map[string]struct {
		change func(r *Record)
		why    string
	}{
		"admin naming a route and pool": {func(r *Record) { r.Kind, r.Route, r.Provider = KindAdmin, "admin", "admin" }, `kind admin: the record names route "admin", provider "admin", resource "tax.registration"`},
		"admin with a decision":         {func(r *Record) { *r = *adminRecord(); r.Decision = &Decision{Reasons: []string{}} }, "kind admin: the record holds a decision"},
		"admin without a role":          {func(r *Record) { *r = *adminRecord(); r.Role = "" }, "kind admin: the record must name its role"},
		"admin with a consumer key":     {func(r *Record) { *r = *adminRecord(); r.Consumer.PublicKey = "04ab" }, `consumer.public_key "04ab"`},
		"exchange without a route":      {func(r *Record) { r.Route = "" }, "kind exchange: the record must name its route"},
		"exchange without a pool":       {func(r *Record) { r.Provider = "" }, "kind exchange: the record must name its provider"},
		"exchange with a role":          {func(r *Record) { r.Role = "operator" }, `kind exchange: the record names role "operator"`},
		"refusal without an error":      {func(r *Record) { *r = *refusal; r.Error = "" }, "kind refusal: the record must name its error"},
		"refusal naming a route":        {func(r *Record) { *r = *refusal; r.Route = "tax-query" }, `kind refusal: the record names route "tax-query"`},
		"catalog with an error":         {func(r *Record) { *r = *catalog; r.Error = "denied" }, "a refused catalog read is of kind refusal"},
		"unknown kind":                  {func(r *Record) { r.Kind = "audit" }, `unknown record kind "audit"`},
		"no kind":                       {func(r *Record) { r.Kind = "" }, "the record has no kind"},
	} {
		r := sampleRecord()
		c.change(r)
		_, err := ParseRecord(r.Encode())
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: parse says %v, want %q", name, err, c.why)
		}
		l := openTestLog(t, t.TempDir(), testSigner(t, testOrigin), Options{})
		if _, err := l.Append(context.Background(), r); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: append says %v, want %q", name, err, c.why)
		}
		if l.Size() != 0 {
			t.Errorf("%s: the log holds %d records", name, l.Size())
		}
		l.Close()
	}
}

// copyFixture copies a committed log, so that a test may write to it.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	return copyDir(t, filepath.Join("testdata", name))
}

// TestVerifiesVersion1Log: a log written by the code before record kinds (a committed
// fixture) still verifies and reads, each record with the kind it was written as — the
// admin actions as admin, a real route named "admin" on another pool as an exchange —
// and encodes back to its stored bytes; the current code appends version 2 records to it,
// and the log with both verifies.
func TestVerifiesVersion1Log(t *testing.T) {
	dir := copyFixture(t, "v1log")
	rep, err := Verify(dir, loadKeys(t, dir))
	if err != nil || rep.Records != 8 || rep.Signed != 1 || rep.LastCheckpoint != 8 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	want := []Kind{KindExchange, KindExchange, KindExchange, KindAdmin, KindAdmin, KindAdmin, KindRefusal, KindExchange}
	err = Scan(dir, func(i uint64, b []byte) error {
		r, err := ParseRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Version != 1 || r.Kind != want[i] || !bytes.Equal(r.Encode(), b) {
			t.Errorf("record %d: version %d kind %s, want 1 %s; encodes back equal: %v", i, r.Version, r.Kind, want[i], bytes.Equal(r.Encode(), b))
		}
		if r.Kind == KindAdmin && r.Role != "operator" {
			t.Errorf("record %d: role %q, want operator (from resource %q)", i, r.Role, r.Resource)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	l := openTestLog(t, dir, testSigner(t, testOrigin), Options{})
	if _, err := l.Append(context.Background(), adminRecord()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(dir, loadKeys(t, dir))
	if err != nil || rep.Records != 12 || rep.LastCheckpoint != 12 {
		t.Fatalf("verify after appending version 2 records: %+v %v", rep, err)
	}
	b, err := ReadRecord(dir, 8)
	if err != nil || !bytes.Contains(b, []byte(`"kind":"admin"`)) || !bytes.Contains(b, []byte(`"v":2}`)) {
		t.Errorf("record 8: %s %v", b, err)
	}
}

// rewriteRecord replaces record i of the first segment by change(record), re-framing the
// segment with correct lengths and checksums: what a forger with write access to the log
// files does. The stored tree keeps the original leaf.
func rewriteRecord(t *testing.T, dir string, i int, change func([]byte) []byte) {
	t.Helper()
	path, b, fr := frames(t, dir)
	out := bytes.Clone(b[:headerSize])
	for j, f := range fr {
		rec := b[f[0]+frameOverhead : f[1]]
		if j == i {
			rec = change(bytes.Clone(rec))
		}
		var h [frameOverhead]byte
		binary.BigEndian.PutUint32(h[:4], uint32(len(rec)))
		binary.BigEndian.PutUint32(h[4:], crc32.Checksum(rec, castagnoli))
		out = append(append(out, h[:]...), rec...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRefusesRecordsThatDoNotFitTheirKind: records rewritten on disk (checksums
// fixed) so that an admin action names a route and pool, an exchange names none, a kind
// is unknown, or a version 2 log goes back to version 1 are each one fault, with the
// reason, at that record.
func TestVerifyRefusesRecordsThatDoNotFitTheirKind(t *testing.T) {
	orig := t.TempDir()
	l := openTestLog(t, orig, testSigner(t, testOrigin), Options{CheckpointInterval: time.Hour})
	appendN(t, l, 2, 1)
	if _, err := l.Append(context.Background(), adminRecord()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2, 1)
	l.Close()
	keys := loadKeys(t, orig)
	if _, err := Verify(orig, keys); err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) func([]byte) []byte {
		return func(b []byte) []byte {
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("no %s in %s", old, b)
			}
			return bytes.Replace(b, []byte(old), []byte(new), 1)
		}
	}
	for name, c := range map[string]struct {
		index  int
		change func([]byte) []byte
		want   []faultAt
	}{
		"admin naming a route": {2, func(b []byte) []byte {
			return replace(`"route":""`, `"route":"admin"`)(replace(`"provider":""`, `"provider":"admin"`)(b))
		}, []faultAt{{2, -1, `kind admin: the record names route "admin", provider "admin", which records of kind admin do not have`}}},
		"exchange without a route": {1, replace(`"route":"tax-query"`, `"route":""`), []faultAt{{1, -1, "kind exchange: the record must name its route"}}},
		"unknown kind":             {3, replace(`"kind":"exchange"`, `"kind":"probe"`), []faultAt{{3, -1, `unknown record kind "probe"`}}},
		"back to version 1": {4, func(b []byte) []byte {
			return replace(`"v":2}`, `"v":1}`)(replace(`"role":"",`, ``)(replace(`"kind":"exchange",`, ``)(b)))
		}, []faultAt{
			{4, -1, "a version 1 record after version 2 records"},
			{4, -1, "its hash is not the one the tree was built with"},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, orig)
			rewriteRecord(t, dir, c.index, c.change)
			wantFaults(t, dir, keys, c.want...)
		})
	}
}
