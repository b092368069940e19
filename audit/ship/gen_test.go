package ship

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
)

// gateway is one generated audit log: a real audit.Log written by the audit package.
type gateway struct {
	dir, origin string
	signer      *audit.NoteSigner
	keysPath    string // a copy of the keys kept apart from the log
	size        uint64
}

func newSigner(t testing.TB, name string) *audit.NoteSigner {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewNoteSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// genRecord is record i of a gateway: consumers, resources, agreements and outcomes vary,
// and the times cross a day and a month boundary of Beijing time (2026-10-31/11-01).
func genRecord(gw string, i int) *audit.Record {
	depts := []string{"110000-rensheju", "110000-gonganju", "110000-minzhengju"}
	resources := []string{"tax.registration", "hukou.basic", "social.insurance", "marriage.status"}
	agreements := []string{"agr-2026-001", "agr-2026-002", "agr-2026-007"}
	base := time.Date(2026, 10, 31, 10, 0, 0, 0, time.UTC) // 18:00 in Beijing
	r := &audit.Record{Kind: audit.KindExchange, Time: base.Add(time.Duration(i) * 30 * time.Second).Add(time.Duration(i%1000) * time.Microsecond),
		Gateway: gw, RequestID: fmt.Sprintf("%s-req-%d", gw, i), Client: "127.0.0.1:1",
		Consumer: audit.Consumer{Dept: depts[i%3], System: "sys", CertSerial: "01"},
		Provider: "pool-" + resources[i%4][:3], Route: "route-" + resources[i%4], Resource: resources[i%4],
		Mode: "query", Method: "GET", Path: fmt.Sprintf("/r/%d", i), Agreement: agreements[i%3], Purpose: "审核",
		Status: 200, Fields: []string{"name", "id"}, Bytes: audit.Bytes{Request: 10, Response: int64(100 + i%50)},
		Decision: &audit.Decision{Allow: true, Reasons: []string{}, Revision: "rev-1"}}
	switch i % 10 {
	case 3:
		r.Decision = &audit.Decision{Allow: false, Reasons: []string{"no_agreement"}, Revision: "rev-1"}
		r.Error, r.Status, r.Fields = "denied", 403, nil
	case 5:
		r.Decision.Reasons = []string{"quota_exhausted", "rate"}
		r.Decision.Allow = false
		r.Error, r.Status, r.Fields = "denied", 429, nil
	case 7:
		r.Error, r.Status = "upstream_unavailable", 502
	case 8:
		r = &audit.Record{Kind: audit.KindRefusal, Time: r.Time, Gateway: gw, RequestID: r.RequestID, Client: "127.0.0.1:2",
			Error: "unauthenticated", Status: 401, Method: "GET", Path: "/x"}
	case 9:
		if i%20 == 9 {
			r = &audit.Record{Kind: audit.KindAdmin, Time: r.Time, Gateway: gw, RequestID: r.RequestID, Client: "127.0.0.1:3",
				Role: "auditor", Method: "GET", Path: "/admin/x", Status: 200}
		} else {
			r = &audit.Record{Kind: audit.KindCatalog, Time: r.Time, Gateway: gw, RequestID: r.RequestID, Client: "127.0.0.1:4",
				Consumer: r.Consumer, Method: "GET", Path: "/.well-known/govgate/catalog", Status: 200, Bytes: audit.Bytes{Response: 77}}
		}
	}
	return r
}

// genLog writes n records to a new log of origin in dir (appended from several goroutines,
// so that they commit in groups as at a gateway), closed so that a checkpoint covers all.
func genLog(t testing.TB, dir, origin string, signer *audit.NoteSigner, from, n int, segBytes int64) *gateway {
	t.Helper()
	return genLogOf(t, dir, origin, signer, from, n, segBytes, genRecord)
}

// genLogOf is genLog with the records gen makes.
func genLogOf(t testing.TB, dir, origin string, signer *audit.NoteSigner, from, n int, segBytes int64, gen func(gw string, i int) *audit.Record) *gateway {
	t.Helper()
	l, err := audit.Open(audit.Options{Dir: dir, Origin: origin, Signer: signer, SegmentBytes: segBytes, CheckpointInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	appendRecordsOf(t, l, filepath.Base(dir), from, n, gen)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-trusted-keys.json")
	b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &gateway{dir: dir, origin: origin, signer: signer, keysPath: keys, size: uint64(from + n)}
}

func appendRecords(t testing.TB, l *audit.Log, gw string, from, n int) {
	t.Helper()
	appendRecordsOf(t, l, gw, from, n, genRecord)
}

func appendRecordsOf(t testing.TB, l *audit.Log, gw string, from, n int, gen func(gw string, i int) *audit.Record) {
	t.Helper()
	const workers = 32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < from+n; i += workers {
				if _, err := l.Append(context.Background(), gen(gw, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func (g *gateway) keys(t testing.TB) *audit.KeySet {
	t.Helper()
	ks, err := audit.LoadKeySet(g.keysPath)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// tamper changes record index on disk as a careful attacker would: old is replaced by new
// (of the same length) and the frame's checksum fixed, so that only hashes can tell.
func tamper(t testing.TB, dir string, index uint64, old, new string) {
	t.Helper()
	tamperFrame(t, dir, index, old, new, true)
}

// tamperFrame changes record index on disk, its frame's checksum fixed or not (a sloppy
// attacker, or the disk).
func tamperFrame(t testing.TB, dir string, index uint64, old, new string, fixCRC bool) {
	t.Helper()
	firsts, err := audit.Segments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var first uint64
	for _, f := range firsts {
		if f <= index {
			first = f
		}
	}
	path := filepath.Join(dir, "segments", fmt.Sprintf("%020d.seg", first))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := 16
	for i := first; i < index; i++ {
		off += 8 + int(binary.BigEndian.Uint32(data[off:]))
	}
	n := int(binary.BigEndian.Uint32(data[off:]))
	rec := data[off+8 : off+8+n]
	if !strings.Contains(string(rec), old) || len(old) != len(new) {
		t.Fatalf("record %d does not hold %q (or %q is not as long)", index, old, new)
	}
	copy(rec, strings.Replace(string(rec), old, new, 1))
	if fixCRC {
		binary.BigEndian.PutUint32(data[off+4:], crc32.Checksum(rec, castagnoli))
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// scaleRecord is record i of n spread evenly over days days from 2026-06-01 (Beijing),
// with the variety of a province's exchanges: 500 agreements, each binding one of 50
// consumer departments to one of 100 resources (of 20 provider pools), the outcomes and
// kinds of genRecord. The reports' groups are then those of real agreements (about 2,000
// a day), not one per record.
func scaleRecord(gw string, i, n, days int) *audit.Record {
	r := genRecord(gw, i)
	start := time.Date(2026, 5, 31, 16, 0, 0, 0, time.UTC)          // 2026-06-01 00:00 in Beijing
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n) // i × days × 24 h would overflow
	r.Time = start.Add(time.Duration(i) * step)
	agr := (i * 7919) % 500
	res := fmt.Sprintf("res-%02d", agr%100)
	if r.Consumer.Dept != "" {
		r.Consumer.Dept = fmt.Sprintf("dept-%02d", agr%50)
	}
	if r.Resource != "" {
		r.Resource, r.Route, r.Provider = res, "route-"+res, fmt.Sprintf("pool-%02d", agr%100%20)
		r.Agreement = fmt.Sprintf("agr-2026-%03d", agr)
	}
	return r
}
