#!/usr/bin/env bash
# Request log writer benchmark: "the log writer sustains 20,000 rows/s
# without slowing requests".
#
# wrk drives POST /v1/chat/completions through aigw serve (one worker, auth,
# routing and the request log on) to aigw mock (one worker), twice, each
# with a fresh database:
#   1. the default request log queue (log_queue 65536 rows);
#   2. a tiny queue (aigw.yaml `log_queue: 16`): most rows are dropped, and
#      counted in aigw_log_rows_dropped_total, while requests/s must stay
#      what it was in run 1 (the request path never waits on the writer).
# For each: requests/s, rows written (select count(*) from request_log),
# rows/s, and the written and dropped counters of GET /metrics, and the CPU
# time of the writer thread (aigw-reqlog): rows per CPU-second is what the
# writer could sustain with a core of its own, whatever rate wrk reached.
#
#   scripts/bench/logwriter.sh [DURATION_SECONDS] [CONNECTIONS] [WORKERS]
#
# Traffic stays on 127.0.0.1; everything started here is stopped on exit.
# Not a test: it prints figures.
set -euo pipefail
dur=${1:-10}
conns=${2:-50}
workers=${3:-1}
here=$(cd "$(dirname "$0")/../.." && pwd)
AIGW=${AIGW:-$here/aigw}
name=logwriter.sh
. "$(dirname "$0")/common.sh"
require_tools "$AIGW" wrk sqlite3 curl

metric() { # addr name -> value
	curl -s "http://$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}
cpu_ticks() { # pid comm -> utime+stime of its threads named comm
	local t sum=0
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "$2" ] || continue
		sum=$((sum + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat")))
	done
	echo "$sum"
}
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # whole process
rows() { sqlite3 "$AIGW_DB" "select count(*) from request_log" 2>/dev/null || echo 0; }

"$AIGW" mock --listen 127.0.0.1:0 --workers 1 >"$work/mock.out" 2>&1 &
pids+=($!)
wait_listen "$work/mock.out"
up=$(sed -n 's/^listening on //p' "$work/mock.out")

# run LABEL YAML: a fresh database and config, serve, wrk, figures.
# Sets last_rps.
run() {
	local label=$1 yaml=$2 dir="$work/$1"
	mkdir -p "$dir"
	export AIGW_DB="$dir/aigw.db" AIGW_CONFIG="$dir/aigw.yaml"
	printf '%s\n' "$yaml" >"$AIGW_CONFIG"
	{ "$AIGW" nodes add m1 --url "http://$up/v1" --provider openai-compatible &&
		"$AIGW" route add chat --path /v1 --nodes m1; } >"$dir/cli.out" 2>&1 ||
		{ cat "$dir/cli.out" >&2; exit 1; }
	local key
	key=$("$AIGW" keys create --name bench -q)
	"$AIGW" serve --listen 127.0.0.1:0 --workers "$workers" >"$dir/serve.out" 2>"$dir/serve.err" &
	local sp=$!
	pids+=("$sp")
	wait_listen "$dir/serve.out"
	local gw
	gw=$(sed -n 's/^listening on //p' "$dir/serve.out")
	cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"mock-1","messages":[{"role":"user","content":"hello there, how are you"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
	local rows0 cpu0 hz
	rows0=$(rows)
	cpu0=$(cpu_ticks "$sp" aigw-reqlog)
	local all0
	all0=$(proc_ticks "$sp")
	hz=$(getconf CLK_TCK)
	wrk -t1 -c"$conns" -d"${dur}s" -s "$dir/post.lua" "http://$gw/v1/chat/completions" >"$dir/wrk.txt"
	local t_end=$SECONDS rps reqs non2xx all
	all=$(($(proc_ticks "$sp") - all0))
	rps=$(awk '/^Requests\/sec/ {print $2}' "$dir/wrk.txt")
	reqs=$(awk '/requests in/ {print $1}' "$dir/wrk.txt")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk.txt")
	# The writer commits at least every ~200 ms: wait until the count settles.
	local r prev=-1 waited=0
	while :; do
		r=$(rows)
		[ "$r" = "$prev" ] && break
		prev=$r
		sleep 0.5
		waited=$((waited + 1))
		[ "$waited" -ge 40 ] && break
	done
	local written dropped cpu
	cpu=$(($(cpu_ticks "$sp" aigw-reqlog) - cpu0))
	written=$(metric "$gw" aigw_log_rows_written_total)
	dropped=$(metric "$gw" aigw_log_rows_dropped_total)
	printf '%s (%s)\n' "$label" "${yaml:-default config}"
	printf '    requests/s %s (%s requests in %s s, non-2xx %s)\n' "$rps" "$reqs" "$dur" "${non2xx:-0}"
	awk -v r="$((r - rows0))" -v d="$dur" -v q="$reqs" 'BEGIN {
		printf "    rows written %d: %.0f rows/s over the run, %.1f%% of the requests\n", r, r / d, 100 * r / q }'
	printf '    metrics: aigw_log_rows_written_total %s, aigw_log_rows_dropped_total %s (%s s after the run)\n' \
		"$written" "$dropped" "$((SECONDS - t_end))"
	awk -v a="$all" -v c="$cpu" -v hz="$hz" -v q="$reqs" 'BEGIN {
		printf "    serve CPU during the run %.2f s: %.1f us per request, of which the writer thread %.1f us\n",
			a / hz, 1e6 * a / hz / q, 1e6 * c / hz / q }'
	awk -v c="$cpu" -v hz="$hz" -v r="$((r - rows0))" 'BEGIN {
		printf "    writer thread CPU %.2f s", c / hz
		if (c > 0) printf ": %.0f rows per CPU-second", r / (c / hz)
		printf "\n" }'
	kill "$sp"
	wait "$sp" 2>/dev/null || true
	last_rps=$rps
}

echo "aigw serve --workers $workers -> aigw mock --workers 1 on $up; wrk -t1 -c$conns -d${dur}s; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run default ""
a=$last_rps
run tiny-queue "log_queue: 16"
b=$last_rps
awk -v a="$a" -v b="$b" 'BEGIN { printf "requests/s with the tiny queue / with the default queue: %.2f\n", b / a }'
