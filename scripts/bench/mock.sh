#!/usr/bin/env bash
# Benchmark: `aigw mock` against nginx serving the same canned answer.
#
# Both run one worker on 127.0.0.1; wrk drives each in turn with the same
# POST of a chat completion request. nginx answers with `return 200` and a
# body of the mock's own answer (same size), so the figure compares what
# the mock costs per request (parsing, JSON checks, generating the answer)
# against a static answer from one of the fastest servers there is. The
# mock must never be the bottleneck of a gateway benchmark: its figure
# should be at least nginx's.
#
#   scripts/bench/mock.sh [-d SECONDS] [-c CONNECTIONS] [-r ROUNDS]
#
# The two are measured in turn, ROUNDS times (default 3), and the median
# round of each is compared. Besides requests per second, the script
# reports the server's CPU time per request (user + system, from /proc),
# which other load on a shared machine disturbs far less: it is what the
# server could sustain on a core of its own.
#
# Needs nginx and wrk. Traffic stays on 127.0.0.1; everything started is
# stopped on exit. On a machine with two or more cores the server and wrk
# are pinned to different cores (taskset) so they do not fight.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
AIGW=${AIGW:-$here/aigw}
NGINX=${NGINX:-/usr/sbin/nginx}
duration=10
conns=50
rounds=3
while getopts d:c:r: o; do
	case $o in
	d) duration=$OPTARG ;;
	c) conns=$OPTARG ;;
	r) rounds=$OPTARG ;;
	*) echo "usage: $0 [-d SECONDS] [-c CONNECTIONS] [-r ROUNDS]" >&2; exit 2 ;;
	esac
done
name=mock.sh
. "$(dirname "$0")/common.sh"
require_tools "$AIGW" "$NGINX" wrk curl


server_cpu=() client_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	server_cpu=(taskset -c 1)
	client_cpu=(taskset -c 0)
fi

body='{"model":"mock-1","messages":[{"role":"user","content":"Say hi to the benchmark"}]}'
cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF

# ------------------------------------------------------------ the mock
"${server_cpu[@]}" "$AIGW" mock --listen 127.0.0.1:0 --workers 1 -q >"$work/mock.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
	grep -q '^listening on ' "$work/mock.out" && break
	sleep 0.05
done
mock_addr=$(sed -n 's/^listening on //p' "$work/mock.out")
[ -n "$mock_addr" ] || { echo "mock.sh: the mock did not start" >&2; cat "$work/mock.out" >&2; exit 1; }
canned=$(curl -sS "http://$mock_addr/v1/chat/completions" -d "$body")

# ------------------------------------------------------------ nginx
nginx_port=$(free_port)
start_nginx_canned "$nginx_port" "$canned"
nginx_size=$(curl -sS -X POST "http://127.0.0.1:$nginx_port/v1/chat/completions" -d "$body" | wc -c)

# ------------------------------------------------------------ runs
cpu_ticks() { # PID -> utime + stime in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
hz=$(getconf CLK_TCK)
mock_pid=${pids[0]}
nginx_worker=$(pgrep -P "${pids[1]}" | head -1)
[ -n "$nginx_worker" ] || { echo "mock.sh: no nginx worker" >&2; exit 1; }

# run_wrk URL PID -> "requests/s cpu-microseconds-per-request"
run_wrk() {
	local before after
	before=$(cpu_ticks "$2")
	"${client_cpu[@]}" wrk -t1 -c"$conns" -d"${duration}s" -s "$work/post.lua" "$1" >"$work/wrk.out"
	after=$(cpu_ticks "$2")
	awk -v ticks=$((after - before)) -v hz="$hz" '
		/requests in/ { n = $1 }
		/^Requests\/sec:/ { rps = $2 }
		END { printf "%s %.2f\n", rps, ticks / hz * 1e6 / n }' "$work/wrk.out"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "# $conns connections, ${duration}s per run, $rounds rounds, one server worker, wrk -t1"
echo "# answer: mock $(printf '%s' "$canned" | wc -c) bytes, nginx $nginx_size bytes"
n_rps=() n_cpu=() m_rps=() m_cpu=()
for r in $(seq 1 "$rounds"); do
	read -r nr nc < <(run_wrk "http://127.0.0.1:$nginx_port/v1/chat/completions" "$nginx_worker")
	read -r mr mc < <(run_wrk "http://$mock_addr/v1/chat/completions" "$mock_pid")
	printf 'round %d: nginx %s req/s (%s us cpu/req), aigw mock %s req/s (%s us cpu/req)\n' \
		"$r" "$nr" "$nc" "$mr" "$mc"
	n_rps+=("$nr") n_cpu+=("$nc") m_rps+=("$mr") m_cpu+=("$mc")
done
nr=$(median "${n_rps[@]}") nc=$(median "${n_cpu[@]}")
mr=$(median "${m_rps[@]}") mc=$(median "${m_cpu[@]}")
echo "nginx      $nr requests/s, $nc us cpu/request (medians)"
echo "aigw mock  $mr requests/s, $mc us cpu/request (medians)"
awk -v m="$mr" -v n="$nr" -v mc="$mc" -v nc="$nc" 'BEGIN {
	printf "ratio mock/nginx: throughput %.2f, capacity (nginx cpu/req / mock cpu/req) %.2f\n", m / n, nc / mc }'
