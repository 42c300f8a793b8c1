#!/usr/bin/env bash
# aigw stats on a large request log: "at 10 million rows a summary of the
# last hour answers in under a second".
#
# statsgen.c (built here against build/libaigw.a) pushes ROWS rows spread
# over the SPAN hours before a fixed "now" through the real request log
# writer, so the raw rows and the per-minute rollups are what serve writes.
# "now" is 30 s past a minute, so the hour's window has partial minutes at
# both edges (read from raw rows) around 59 whole ones (read from rollups).
# Then, with AIGW_NOW fixed to that time, `aigw stats summary --json` over
# the last hour, the last hour --by route, and the last 24 hours (the whole
# log), each against the peer: the sqlite3 shell computing the same counts
# and sums (not the percentiles) from the raw rows of the window, through
# the same ts_ms index. Each runs RUNS times; the median wall times are
# printed with their ratio, and the request counts of both must be equal.
#
#   scripts/bench/stats.sh [ROWS] [SPAN_HOURS] [RUNS]
#
# Nothing listens on the network. Not a test: it prints figures.
set -euo pipefail
rows=${1:-10000000}
span_h=${2:-24}
runs=${3:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
AIGW=${AIGW:-$here/aigw}
name=stats.sh
. "$(dirname "$0")/common.sh"
require_tools "$AIGW" sqlite3 jq cc
[ -f "$here/build/libaigw.a" ] || { echo "$name: build/libaigw.a missing: run make" >&2; exit 1; }

cc -std=c11 -D_GNU_SOURCE -O2 -I"$here/lib" -o "$work/statsgen" "$here/scripts/bench/statsgen.c" \
	"$here/build/libaigw.a" -lsqlite3 -lyaml -lcjson -lbearssl -lpthread

now=$(( ($(date +%s) / 60) * 60 + 30 ))
db="$work/aigw.db"
echo "filling $db: $rows rows over ${span_h}h ..."
t0=$(date +%s.%N)
"$work/statsgen" "$db" "$rows" $((span_h * 3600)) "$now"
t1=$(date +%s.%N)
have=$(sqlite3 "$db" "select count(*) from request_log")
echo "  $have rows, $(sqlite3 "$db" "select count(*) from request_rollup") rollup rows," \
	"$(du -m "$db" | cut -f1) MB, in $(echo "$t1 - $t0" | bc) s"
[ "$have" -eq "$rows" ] || { echo "$name: expected $rows rows" >&2; exit 1; }

# peer_sql SECONDS [by route]: the sqlite3 shell's query for the window of
# SECONDS before now: the counts and sums of the summary, from raw rows.
peer_sql() {
	local since_ms=$(( (now - $1) * 1000 )) until_ms=$(( now * 1000 ))
	if [ "${2:-}" = route ]; then
		echo "SELECT route, count(*), sum(status >= 400 OR status < 100 OR error IS NOT NULL),
			sum(latency_us), sum(prompt_tokens), sum(completion_tokens), sum(cost_micro),
			count(cost_micro) FROM request_log WHERE ts_ms >= $since_ms AND ts_ms < $until_ms
			GROUP BY route"
	else
		echo "SELECT count(*), sum(status >= 400 OR status < 100 OR error IS NOT NULL),
			sum(latency_us), sum(prompt_tokens), sum(completion_tokens), sum(cost_micro),
			count(cost_micro) FROM request_log WHERE ts_ms >= $since_ms AND ts_ms < $until_ms"
	fi
}

# median_ms CMD...: runs CMD $runs times (output to $work/last), prints the
# median wall time in milliseconds.
median_ms() {
	local i t0 t1 times=()
	for i in $(seq "$runs"); do
		t0=$(date +%s%N)
		"$@" >"$work/last"
		t1=$(date +%s%N)
		times+=($(( (t1 - t0) / 1000 )))
	done
	printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}

export AIGW_NOW=$now
# Warm the page cache once for both, so neither pays the first read.
"$AIGW" --db "$db" stats summary --since 24h --json >/dev/null
sqlite3 "$db" "$(peer_sql 86400)" >/dev/null

echo
echo "$rows rows, median of $runs runs:"
printf '  %-16s %-10s %12s %12s %8s %10s\n' window grouping "aigw ms" "sqlite3 ms" ratio requests
status=0
measure() { # label seconds since [route]
	local a p an pn
	if [ "${3:-}" = route ]; then
		a=$(median_ms "$AIGW" --db "$db" stats summary --since "$2" --by route --json)
		an=$(jq '[.groups[].requests] | add' "$work/last")
		p=$(median_ms sqlite3 "$db" "$(peer_sql "$1" route)")
		pn=$(awk -F'|' '{ s += $2 } END { print s }' "$work/last")
	else
		a=$(median_ms "$AIGW" --db "$db" stats summary --since "$2" --json)
		an=$(jq .total.requests "$work/last")
		p=$(median_ms sqlite3 "$db" "$(peer_sql "$1")")
		pn=$(cut -d'|' -f1 "$work/last")
	fi
	printf '  %-16s %-10s %12s %12s %7.1fx %10s\n' "--since $2" "${3:-none}" "$a" "$p" \
		"$(echo "$p / $a" | bc -l)" "$an"
	[ "$an" = "$pn" ] || { echo "$name: request counts differ: aigw $an, sqlite3 $pn" >&2; status=1; }
}
measure 3600 1h
measure 3600 1h route
measure 86400 24h
exit $status
