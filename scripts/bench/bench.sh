#!/usr/bin/env bash
# Load-generator benchmark: `aigw bench` against wrk, both driving the
# same nginx that answers a small canned 200, in the same run.
#
#   scripts/bench/bench.sh [-d SECONDS] [-c CONNECTIONS] [-r ROUNDS]
#
# A load tester must not be slower than what it measures: against a
# server this fast, the requests/s a generator reaches is the generator's
# own ceiling. Both use one thread (wrk -t1) and take turns ROUNDS times
# (default 1); the script prints each one's median requests/s and the
# ratio aigw/wrk (the target is >= 0.9). nginx runs one worker; with two
# or more cores it is pinned to one and the generators to another.
# Traffic stays on 127.0.0.1; everything started is stopped on exit. Not
# a test.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
AIGW=${AIGW:-$here/aigw}
NGINX=${NGINX:-/usr/sbin/nginx}
duration=5
conns=50
rounds=1
while getopts d:c:r: o; do
	case $o in
	d) duration=$OPTARG ;;
	c) conns=$OPTARG ;;
	r) rounds=$OPTARG ;;
	*) echo "usage: $0 [-d SECONDS] [-c CONNECTIONS] [-r ROUNDS]" >&2; exit 2 ;;
	esac
done
name=bench.sh
. "$(dirname "$0")/common.sh"
require_tools "$AIGW" "$NGINX" wrk curl jq

server_cpu=() client_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	server_cpu=(taskset -c 1)
	client_cpu=(taskset -c 0)
fi

port=$(free_port)
start_nginx_canned "$port" '{"ok":true}'
url="http://127.0.0.1:$port/"

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "# nginx (one worker) answering a canned 200; $conns connections, ${duration}s, $rounds round(s), one generator thread"
w_rps=() a_rps=()
for r in $(seq 1 "$rounds"); do
	w=$("${client_cpu[@]}" wrk -t1 -c"$conns" -d"${duration}s" "$url" | awk '/^Requests\/sec:/ { print $2 }')
	"${client_cpu[@]}" "$AIGW" bench "$url" -c "$conns" -d "${duration}s" --json >"$work/a.json"
	a=$(jq '.requests_per_sec' "$work/a.json")
	cpu=$(jq '.cpu.share' "$work/a.json")
	errors=$(jq '.errors' "$work/a.json")
	printf 'round %d: wrk %s req/s, aigw bench %s req/s (%s errors, generator %.0f%% of a core)\n' \
		"$r" "$w" "$a" "$errors" "$(awk -v c="$cpu" 'BEGIN { print c * 100 }')"
	w_rps+=("$w") a_rps+=("$a")
done
w=$(median "${w_rps[@]}") a=$(median "${a_rps[@]}")
echo "wrk         $w requests/s"
echo "aigw bench  $a requests/s"
awk -v a="$a" -v w="$w" 'BEGIN { printf "ratio aigw bench / wrk: %.2f\n", a / w }'
