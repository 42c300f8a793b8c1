#!/usr/bin/env bash
# Proxy benchmark: POST /v1/chat/completions through aigw serve (auth,
# routing and the request log on), nginx (proxy_pass, upstream keepalive)
# and HAProxy (http-reuse always), each with one worker, against the same
# upstream (aigw mock, one worker), driven by wrk in the same run.
#
#   scripts/bench/proxy.sh [SECONDS] [CONNECTIONS] [ROUNDS]
#
# Each round runs every target for SECONDS at CONNECTIONS, then again at
# one connection; prints the median requests/s of each and the ratios,
# and the added latency at one connection: median p99 through each proxy
# minus median p99 direct. Traffic stays on
# 127.0.0.1; everything started here is stopped on exit. Not a test.
set -euo pipefail
dur=${1:-5}
conns=${2:-50}
rounds=${3:-3}
here=$(cd "$(dirname "$0")/../.." && pwd)
AIGW=${AIGW:-$here/aigw}
name=proxy.sh
. "$(dirname "$0")/common.sh"
require_tools wrk nginx haproxy


export AIGW_DB="$work/aigw.db"
"$AIGW" mock --listen 127.0.0.1:0 --workers 1 >"$work/mock.out" 2>&1 &
pids+=($!)
wait_listen "$work/mock.out"
up=$(sed -n 's/^listening on //p' "$work/mock.out")

"$AIGW" nodes add m1 --url "http://$up/v1" --provider openai-compatible
"$AIGW" route add chat --path /v1 --nodes m1
key=$("$AIGW" keys create --name bench -q)
"$AIGW" serve --listen 127.0.0.1:0 --workers 1 >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
wait_listen "$work/serve.out"
gw=$(sed -n 's/^listening on //p' "$work/serve.out")

nport=$(free_port)
start_nginx_proxy "$nport" "$up"

hport=$(free_port)
cat >"$work/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	http-reuse always
frontend fe
	bind 127.0.0.1:$hport
	default_backend be
backend be
	server up $up
CONF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
sleep 0.5

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"mock-1","messages":[{"role":"user","content":"hello there, how are you"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA

rps() { # url -> requests/s
	wrk -t1 -c"$conns" -d"${dur}s" -s "$work/post.lua" "$1/v1/chat/completions" |
		awk '/^Requests\/sec/ {print $2}'
}
p99() { # url -> p99 in microseconds at one connection
	wrk -t1 -c1 -d"${dur}s" --latency -s "$work/post.lua" \
		"$1/v1/chat/completions" | awk '$1 == "99%" {
			v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
			if (u == "us") print v; else if (u == "ms") print v * 1000; else print v * 1000000 }'
}
median() { # numbers on stdin -> their median
	sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The machine is shared and its speed drifts over seconds: the targets take
# turns, round after round, and each figure is the median of its rounds.
targets=(direct aigw nginx haproxy)
declare -A url=([direct]="http://$up" [aigw]="http://$gw" [nginx]="http://127.0.0.1:$nport"
	[haproxy]="http://127.0.0.1:$hport")
echo "upstream: aigw mock on $up; $rounds rounds of ${dur}s per target, $conns connections, one worker each"
for r in $(seq "$rounds"); do
	for t in "${targets[@]}"; do rps "${url[$t]}" >>"$work/rps.$t"; done
	for t in "${targets[@]}"; do p99 "${url[$t]}" >>"$work/p99.$t"; done
done
declare -A R P
for t in "${targets[@]}"; do
	R[$t]=$(median <"$work/rps.$t")
	P[$t]=$(median <"$work/p99.$t")
done
printf '%-28s %12s %14s\n' "target" "requests/s" "p99 at 1 conn"
printf '%-28s %12.0f %11.0f us\n' "direct (mock)" "${R[direct]}" "${P[direct]}" \
	"aigw serve" "${R[aigw]}" "${P[aigw]}" "nginx proxy_pass" "${R[nginx]}" "${P[nginx]}" \
	"haproxy" "${R[haproxy]}" "${P[haproxy]}"
awk -v a="${R[aigw]}" -v n="${R[nginx]}" -v h="${R[haproxy]}" \
	'BEGIN { printf "ratio aigw/nginx %.2f   aigw/haproxy %.2f\n", a / n, a / h }'
awk -v d="${P[direct]}" -v a="${P[aigw]}" -v n="${P[nginx]}" -v h="${P[haproxy]}" 'BEGIN {
	printf "added p99 latency (us): aigw %.0f, nginx %.0f, haproxy %.0f\n", a - d, n - d, h - d }'
echo "per-round requests/s, aigw: $(tr '\n' ' ' <"$work/rps.aigw")nginx: $(tr '\n' ' ' <"$work/rps.nginx")"
rows=$(sqlite3 "$AIGW_DB" "select count(*) from request_log" 2>/dev/null || echo "?")
echo "request log rows written by aigw during the run: $rows"
