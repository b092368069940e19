#!/bin/sh
# ship-bracket.sh OUT BIN... — the issue-18 target measured: for each shipper test binary
# (go test -c ./audit/ship/, e.g. one built before a change and one after), the gateway's
# durable append benchmark, one shipping run, the append benchmark again; the load
# average beside each. ship ÷ append is the shipping rate over each append rate around it.
# Each round ends with the append benchmark's CPU per record (100,000 records under
# /usr/bin/time: user+system seconds), the machine-independent side of the comparison.
# With GOVGATE_SHIP_BENCH_DAYS set (a province's variety of groups) the benchmark runs no
# file-based report. GOVGATE_SHIP_BENCH_RECORDS (default 300000) and ROUNDS (default 1: each binary once,
# in the order given, per round) apply; AUDIT_TEST is the audit test binary
# (go test -c ./audit/), the same for every run.
set -eu
out=$1
shift
: "${AUDIT_TEST:?go test -c -o FILE ./audit/ and set AUDIT_TEST=FILE}"
: "${GOVGATE_SHIP_BENCH_RECORDS:=300000}"
export GOVGATE_SHIP_BENCH_RECORDS
rounds=${ROUNDS:-1}
stamp() { echo "# $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) $*" >>"$out"; }
append() {
	stamp append
	"$AUDIT_TEST" -test.run '^$' -test.bench 'BenchmarkAppend$/group' -test.benchtime 2s 2>&1 | grep '^BenchmarkAppend' >>"$out"
}
r=1
while [ "$r" -le "$rounds" ]; do
	for bin in "$@"; do
		append
		stamp ship "$bin" round "$r"
		"$bin" -test.run '^$' -test.bench ShipAndReport -test.benchtime 1x 2>&1 | grep '^BenchmarkShipAndReport' >>"$out"
		append
	done
	stamp append CPU, 100000 records
	/usr/bin/time -f 'append_cpu_s %U %S' "$AUDIT_TEST" -test.run '^$' -test.bench 'BenchmarkAppend$/group' -test.benchtime 100000x 2>&1 |
		grep -E '^(BenchmarkAppend|append_cpu_s)' >>"$out"
	r=$((r + 1))
done
stamp end
