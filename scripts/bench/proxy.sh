#!/usr/bin/env bash
# Proxy benchmark: POST /v1/chat/completions through aigw serve (auth,
# routing and the request log on), nginx (proxy_pass, upstream keepalive)
# and HAProxy (http-reuse always), each with one worker, against the same
# upstream (aigw mock, one worker), driven by wrk in the same run.
#
#   scripts/bench/proxy.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Prints requests/s for each and the ratios, then the added latency at one
# connection: p99 through each proxy minus p99 direct. Traffic stays on
# 127.0.0.1; everything started here is stopped on exit. Not a test.
set -euo pipefail
dur=${1:-10}
conns=${2:-50}
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
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	upstream up { server $up; keepalive 128; }
	server {
		listen 127.0.0.1:$nport;
		location / {
			proxy_pass http://up;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

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
	wrk -t1 -c1 -d"$((dur / 2 > 2 ? dur / 2 : 2))s" --latency -s "$work/post.lua" \
		"$1/v1/chat/completions" | awk '$1 == "99%" {
			v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
			if (u == "us") print v; else if (u == "ms") print v * 1000; else print v * 1000000 }'
}

echo "upstream: aigw mock on $up; ${dur}s per run, $conns connections, one worker each"
d=$(rps "http://$up"); a=$(rps "http://$gw"); n=$(rps "http://127.0.0.1:$nport"); h=$(rps "http://127.0.0.1:$hport")
printf '%-28s %12s\n' "target" "requests/s"
printf '%-28s %12s\n' "direct (mock)" "$d" "aigw serve" "$a" "nginx proxy_pass" "$n" "haproxy" "$h"
awk -v a="$a" -v n="$n" -v h="$h" 'BEGIN { printf "ratio aigw/nginx %.2f   aigw/haproxy %.2f\n", a / n, a / h }'

pd=$(p99 "http://$up"); pa=$(p99 "http://$gw"); pn=$(p99 "http://127.0.0.1:$nport"); ph=$(p99 "http://127.0.0.1:$hport")
awk -v d="$pd" -v a="$pa" -v n="$pn" -v h="$ph" 'BEGIN {
	printf "p99 at one connection (us): direct %.0f, aigw %.0f, nginx %.0f, haproxy %.0f\n", d, a, n, h
	printf "added p99 latency (us): aigw %.0f, nginx %.0f, haproxy %.0f\n", a - d, n - d, h - d }'
rows=$(sqlite3 "$AIGW_DB" "select count(*) from request_log" 2>/dev/null || echo "?")
echo "request log rows written by aigw during the run: $rows"
