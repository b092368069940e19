package ship

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/audit/index"
	"github.com/govgate/govgate/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// BenchmarkShipAndReport ships a generated log of GOVGATE_SHIP_BENCH_RECORDS records
// (default 100,000) into a PostgreSQL run as in production (fsync and synchronous commit
// on), and times the reports. Baselines in the same run: the audit log's own durable
// append rate while generating (gen_rec/s), and the file-based report over the same log.
// GOVGATE_SHIP_BENCH_WRITERS connections (default DefaultWriters) write the batches of
// GOVGATE_SHIP_BENCH_BATCH records (default DefaultBatch);
// GOVGATE_SHIP_BENCH_PG adds server settings (name=value,...), fsync and synchronous
// commit staying on.
// GOVGATE_SHIP_BENCH_DAYS=D spreads the records over D days with a province's variety
// (scaleRecord: 50 departments, 500 agreements) instead of genRecord's 30 s apart, times
// each report cold (PostgreSQL restarted: its buffers empty) and warm, and leaves out the
// file-based reports (which read the whole log, minutes at 10,000,000): the scale run,
// GOVGATE_SHIP_BENCH_RECORDS=10000000 GOVGATE_SHIP_BENCH_DAYS=180 (~20 GB of disk).
// Run with -benchtime 1x: each iteration ships the whole log into a fresh database.
func BenchmarkShipAndReport(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("GOVGATE_SHIP_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	days, _ := strconv.Atoi(os.Getenv("GOVGATE_SHIP_BENCH_DAYS"))
	gen := genRecord
	if days > 0 {
		gen = func(gw string, i int) *audit.Record { return scaleRecord(gw, i, n, days) }
	}
	conns := DefaultWriters
	if v, err := strconv.Atoi(os.Getenv("GOVGATE_SHIP_BENCH_WRITERS")); err == nil && v > 0 {
		conns = v
	}
	batch := DefaultBatch
	if v, err := strconv.Atoi(os.Getenv("GOVGATE_SHIP_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	ctx := context.Background()
	var settings []string
	if v := os.Getenv("GOVGATE_SHIP_BENCH_PG"); v != "" {
		settings = strings.Split(v, ",")
	}
	srv := pgtest.StartT(b, pgtest.Options{Durable: true, Settings: settings})
	dir := filepath.Join(b.TempDir(), "gw-bench")
	start := time.Now()
	g := genLogOf(b, dir, "govgate.bench/gw-1", newSigner(b, "gw-bench"), 0, n, audit.DefaultSegmentBytes, gen)
	genRate := float64(n) / time.Since(start).Seconds()
	var url string
	var took, goCPU, pgCPU, srvCPU time.Duration
	for b.Loop() {
		url = srv.Database(b)
		db := connect(b, url)
		if _, err := index.Migrate(ctx, db); err != nil {
			b.Fatal(err)
		}
		var writers []*pgx.Conn
		for range conns - 1 {
			writers = append(writers, connect(b, url))
		}
		s, err := New(ctx, Options{Dir: g.dir, Keys: g.keys(b), DB: db, Writers: writers, Batch: batch, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		pids := backendPIDs(b, append(writers, db))
		postmaster := parentPID(pids[0])
		cpu0, pg0, srv0 := selfCPU(b), procCPU(pids), serverCPU(postmaster)
		t0 := time.Now()
		res, err := s.Once(ctx)
		took = time.Since(t0)
		goCPU, pgCPU, srvCPU = selfCPU(b)-cpu0, procCPU(pids)-pg0, serverCPU(postmaster)-srv0
		if err != nil || res.Next != g.size {
			b.Fatalf("shipped %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(conns), "writers")
	b.ReportMetric(float64(batch), "batch")
	b.ReportMetric(genRate, "gen_rec/s")
	b.ReportMetric(float64(n)/took.Seconds(), "ship_rec/s")
	b.ReportMetric(float64(n)/took.Seconds()/genRate, "ship/gen")
	// Where the time goes: the shipper's CPU (verification, rows, COPY encoding; on
	// every core) and the PostgreSQL backends' of its connections (COPY, indexes,
	// roll-ups; not the WAL writer's or checkpointer's), against the wall time.
	b.ReportMetric(goCPU.Seconds()/took.Seconds(), "shipper_cpu/wall")
	b.ReportMetric(pgCPU.Seconds()/took.Seconds(), "pg_backend_cpu/wall")
	b.ReportMetric(float64((goCPU+pgCPU).Microseconds())/float64(n), "cpu_us/rec")
	// The whole server's (its backends, WAL writer, checkpointer, autovacuum: what the
	// shipper makes PostgreSQL do) with the shipper's: the CPU one record costs the machine.
	b.ReportMetric(float64((goCPU+srvCPU).Microseconds())/float64(n), "all_cpu_us/rec")
	b.Logf("shipped %d records in %v", n, took)
	db := connect(b, url)
	analyze := "VACUUM ANALYZE"
	if days > 0 {
		analyze = "ANALYZE" // a vacuum of the whole table (hint bits: it is written again) takes minutes at scale
	}
	if _, err := db.Exec(ctx, analyze); err != nil {
		b.Fatal(err)
	}
	var table, indexes, rollup int64
	if err := db.QueryRow(ctx, `SELECT coalesce(sum(pg_table_size(inhrelid)), 0), coalesce(sum(pg_indexes_size(inhrelid)), 0)
		FROM pg_inherits WHERE inhparent = 'records'::regclass`).Scan(&table, &indexes); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT pg_total_relation_size('sharing_daily') + pg_total_relation_size('sharing_monthly')`).Scan(&rollup); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(table)/float64(n), "table_B/rec")
	b.ReportMetric(float64(indexes)/float64(n), "index_B/rec")
	b.ReportMetric(float64(rollup), "rollup_B")
	var records, daily, monthly int64
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM sharing_daily), (SELECT count(*) FROM sharing_monthly)`).Scan(&records, &daily, &monthly); err != nil {
		b.Fatal(err)
	}
	if records != int64(n) {
		b.Fatalf("the index holds %d records, not %d", records, n)
	}
	b.ReportMetric(float64(daily), "daily_rows")
	b.ReportMetric(float64(monthly), "monthly_rows")
	to := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	reports := []struct {
		name string
		by   audit.ReportDim
	}{{"day", audit.ByDay}, {"month", audit.ByMonth}, {"agreement", audit.ByAgreement}}
	if days > 0 {
		db = benchReportsCold(b, srv, url, to, reports)
	}
	for _, c := range reports {
		opts := audit.ReportOptions{To: to, By: []audit.ReportDim{c.by}}
		t0 := time.Now()
		if _, err := index.Report(ctx, db, opts, nil); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "db_report_"+c.name+"_ms")
		if days > 0 {
			continue
		}
		t0 = time.Now()
		if _, err := audit.Report(g.dir, opts); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "file_report_"+c.name+"_ms")
	}
	// What the roll-up saves: the same report by day counted from the records themselves.
	t0 := time.Now()
	if _, err := db.Exec(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), outcome, count(*), sum(bytes_response) FROM records WHERE sharing GROUP BY 1, 2`); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "scan_report_day_ms")
}

// benchReportsCold times each report once cold: the server restarted before each (its
// shared buffers empty), on a new connection. It returns the last connection.
func benchReportsCold(b *testing.B, srv *pgtest.Server, url string, to time.Time, reports []struct {
	name string
	by   audit.ReportDim
}) *pgx.Conn {
	ctx := context.Background()
	var db *pgx.Conn
	for _, c := range reports {
		if err := srv.Restart(ctx); err != nil { // day and month read different roll-ups, month and agreement the same
			b.Fatal(err)
		}
		db = connect(b, url)
		t0 := time.Now()
		if _, err := index.Report(ctx, db, audit.ReportOptions{To: to, By: []audit.ReportDim{c.by}}, nil); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "db_report_"+c.name+"_cold_ms")
	}
	return db
}

// BenchmarkReportRollup times the reports over a daily roll-up the size of a province's:
// GOVGATE_ROLLUP_ROWS rows (default 1,000,000) spread over 180 days and 50 origins, made
// with generate_series, and the monthly roll-up summed from it (the records themselves
// are not needed: the reports read only the roll-ups for whole days and months).
func BenchmarkReportRollup(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GOVGATE_ROLLUP_ROWS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	_, db := newIndex(b)
	if _, err := db.Exec(ctx, `INSERT INTO sharing_daily
		SELECT date '2026-06-01' + (i % 180), 'govgate.bench/gw-' || (i / 180 % 50), 'exchange',
		       'dept-' || (i / 9000 % 40), 'prov-' || (i / 360000 % 20), 'pool', 'res-' || (i / 9000 % 97),
		       'agr-' || (i / 9000 % 300), CASE WHEN i % 7 = 0 THEN 'no_agreement' ELSE '' END,
		       CASE WHEN i % 7 = 0 THEN 'denied' ELSE 'allowed' END, 1 + i % 1000, 100 * (i % 1000)
		FROM generate_series(0, $1 - 1) AS i ON CONFLICT DO NOTHING`, n); err != nil {
		b.Fatal(err)
	}
	// The monthly roll-up the shipper would have written beside: the daily summed by month.
	if _, err := db.Exec(ctx, `INSERT INTO sharing_monthly
		SELECT date_trunc('month', day)::date, origin, kind, consumer_dept, provider_dept, pool, resource, agreement, reason, outcome, sum(n), sum(bytes_released)
		FROM sharing_daily GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, "VACUUM ANALYZE sharing_daily, sharing_monthly"); err != nil {
		b.Fatal(err)
	}
	var rows, monthly, records int64
	if err := db.QueryRow(ctx, `SELECT count(*), sum(n), (SELECT count(*) FROM sharing_monthly) FROM sharing_daily`).Scan(&rows, &records, &monthly); err != nil {
		b.Fatal(err)
	}
	to := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var took [3]time.Duration
	for b.Loop() {
		for k, by := range []audit.ReportDim{audit.ByDay, audit.ByMonth, audit.ByAgreement} {
			t0 := time.Now()
			if _, err := index.Report(ctx, db, audit.ReportOptions{To: to, By: []audit.ReportDim{by}}, nil); err != nil {
				b.Fatal(err)
			}
			took[k] += time.Since(t0)
		}
	}
	b.ReportMetric(float64(rows), "rollup_rows")
	b.ReportMetric(float64(monthly), "monthly_rows")
	b.ReportMetric(float64(records), "records_counted")
	b.ReportMetric(float64(took[0].Milliseconds())/float64(b.N), "report_day_ms")
	b.ReportMetric(float64(took[1].Milliseconds())/float64(b.N), "report_month_ms")
	b.ReportMetric(float64(took[2].Milliseconds())/float64(b.N), "report_agreement_ms")
}

// selfCPU is the CPU time (user and system) of this process so far.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendPIDs are the PostgreSQL server processes serving conns.
func backendPIDs(b *testing.B, conns []*pgx.Conn) []int {
	var out []int
	for _, c := range conns {
		out = append(out, int(c.PgConn().PID()))
	}
	return out
}

// procCPU is the CPU time (user and system) of the processes pids so far, from
// /proc/PID/stat (0 for one that is gone).
func procCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(utime+stime) * time.Second / clockTicks
	}
	return total
}

// parentPID is the parent of process pid (0 when unknown): a backend's is the postmaster.
func parentPID(pid int) int {
	f := procStat(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// serverCPU is the CPU time of a PostgreSQL server so far: the postmaster's, its children
// reaped (cutime, cstime: autovacuum workers, backends gone), and its children alive.
func serverCPU(postmaster int) time.Duration {
	f := procStat(postmaster)
	if len(f) < 15 {
		return 0
	}
	var total int64
	for _, i := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		total += v
	}
	cpu := time.Duration(total) * time.Second / clockTicks
	dirs, _ := os.ReadDir("/proc")
	var children []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err == nil && parentPID(pid) == postmaster {
			children = append(children, pid)
		}
	}
	return cpu + procCPU(children)
}

// procStat is /proc/PID/stat's fields after the command (state, ppid, ...), nil if gone.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.Fields(rest)
}

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTicks = 100
