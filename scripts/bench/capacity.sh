#!/usr/bin/env bash
# Capacity benchmark of aigw serve (one worker), against nginx where the
# issue names a peer:
#
#   idle     idle RSS of aigw serve (target: at most 10 MB) and of nginx
#            (master + worker, worker_processes 1, proxy_pass config)
#   conns    10,000 idle keep-alive connections held (one GET /healthz on
#            each): RSS, bytes per connection, time of a new request
#            meanwhile, connections still open after 5 s; nginx likewise
#   streams  1,000 concurrent streamed chat completions relayed from
#            `aigw mock --tokens-per-sec 20 --tokens 100` (~5 s each):
#            completed, duration min/median/max, largest gap between two
#            events of a stream, peak RSS sampled every 100 ms; run twice
#            to show the memory is reused, then through nginx for reference
#   slow     one client reading a fast, long stream (mock --tokens-per-sec 0
#            --tokens 100000) at 1 byte a second: serve's RSS at the start
#            and after 10 s (backpressure must keep it flat), then the rest
#            read at full speed (the stream must still end with [DONE])
#
#   scripts/bench/capacity.sh [idle|conns|streams|slow ...]   (default: all)
#
# Helpers: capclient.py (Python 3 stdlib) and sseclient.c (built here with
# cc). Traffic stays on 127.0.0.1; everything started here is stopped on
# exit. Prints figures; it is not a test. About two minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
AIGW=${AIGW:-$root/aigw}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
CONNS=${CONNS:-10000}
STREAMS=${STREAMS:-1000}
SLOW_SECONDS=${SLOW_SECONDS:-15}
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(idle conns streams slow)
name=capacity.sh
. "$(dirname "$0")/common.sh"
require_tools "$AIGW" "$NGINX" python3 curl cc

# 10,000 connections need as many descriptors in serve, nginx and the client.
if ulimit -n 65536 2>/dev/null; then
	echo "open files limit: $(ulimit -n)"
else
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=1048576
	ulimit -n "$hard"
	echo "open files limit: raising to 65536 failed (hard limit $hard); using $(ulimit -n)"
fi
nofile=$(ulimit -n)
if [ "$nofile" -lt $((CONNS + 100)) ]; then
	echo "capacity.sh: $CONNS connections need more than $nofile descriptors; using CONNS=$((nofile - 200))"
	CONNS=$((nofile - 200))
fi


cc -std=c11 -O2 -o "$work/sseclient" "$here/sseclient.c"
CAP="python3 $here/capclient.py"

rss_kb() { # pid... -> summed VmRSS in kB
	local t=0 p
	for p in "$@"; do t=$((t + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done
	echo "$t"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
val() { sed -n "s/^$1 //p" "$2"; } # name file -> value
stop() { # pid: stop one process started here, and forget it
	local keep=() p
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}

# start_gw NAME [mock options...]: a fresh database and config (aigw.yaml
# holds $GW_YAML, empty by default), a mock with those options, one node and
# route to it, a key, and aigw serve with one worker. Sets up, mock_pid, gw,
# gw_pid, key.
start_gw() {
	local name=$1
	shift
	mkdir -p "$work/$name"
	export AIGW_DB="$work/$name/aigw.db" AIGW_CONFIG="$work/$name/aigw.yaml"
	printf '%s\n' "${GW_YAML:-}" >"$AIGW_CONFIG"
	"$AIGW" mock --listen 127.0.0.1:0 --workers 1 "$@" >"$work/$name/mock.out" 2>&1 &
	mock_pid=$!
	pids+=("$mock_pid")
	wait_listen "$work/$name/mock.out"
	up=$(sed -n 's/^listening on //p' "$work/$name/mock.out")
	{ "$AIGW" nodes add m1 --url "http://$up/v1" --provider openai-compatible &&
		"$AIGW" route add chat --path /v1 --nodes m1; } >"$work/$name/cli.out" 2>&1 ||
		{ cat "$work/$name/cli.out" >&2; exit 1; }
	key=$("$AIGW" keys create --name bench -q)
	"$AIGW" serve --listen 127.0.0.1:0 --workers 1 >"$work/$name/serve.out" 2>"$work/$name/serve.err" &
	gw_pid=$!
	pids+=("$gw_pid")
	wait_listen "$work/$name/serve.out"
	gw=$(sed -n 's/^listening on //p' "$work/$name/serve.out")
}
stop_gw() { stop "$gw_pid"; stop "$mock_pid"; }

# start_nginx NAME UPSTREAM [WORKER_CONNECTIONS]: worker_processes 1,
# proxy_pass to UPSTREAM with upstream keepalive and no buffering (as in
# proxy.sh), /healthz answered by nginx itself. worker_connections defaults
# to what the descriptor limit allows (nginx allocates them at start). Sets
# nginx_port, nginx_pids (master,worker).
start_nginx() {
	local dir="$work/$1" up=$2 wc=${3:-$((nofile - 100))}
	[ "$wc" -gt 65000 ] && wc=65000
	mkdir -p "$dir"
	nginx_port=$(free_port)
	cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $nofile;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections $wc; }
http {
	access_log off;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	upstream up { server $up; keepalive 128; }
	server {
		listen 127.0.0.1:$nginx_port;
		location = /healthz { default_type application/json; return 200 '{"status":"ok"}'; }
		location / {
			proxy_pass http://up;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
CONF
	"$NGINX" -c "$dir/nginx.conf" -p "$dir" 2>>"$dir/error.log" &
	nginx_master=$!
	pids+=("$nginx_master")
	local worker=
	for _ in $(seq 100); do
		worker=$(ps -o pid= --ppid "$nginx_master" | head -1 | tr -d ' ')
		[ -n "$worker" ] && curl -s -o /dev/null "http://127.0.0.1:$nginx_port/healthz" && break
		sleep 0.05
	done
	[ -n "$worker" ] || { echo "capacity.sh: nginx did not start" >&2; cat "$dir/error.log" >&2; exit 1; }
	nginx_pids="$nginx_master,$worker"
}
stop_nginx() { stop "$nginx_master"; }

section_idle() {
	echo
	echo "== idle RSS (target for aigw serve: at most 10 MB)"
	start_gw idle
	curl -s -o /dev/null "http://$gw/healthz"
	sleep 1
	local a anon file
	a=$(rss_kb "$gw_pid")
	anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$gw_pid/status")
	file=$(awk '/^RssFile:/ {print $2}' "/proc/$gw_pid/status")
	start_nginx idle-nginx "$up" 4096 # as in proxy.sh
	sleep 1
	local n nm nw
	nm=${nginx_pids%,*}
	nw=${nginx_pids#*,}
	n=$(rss_kb "$nm" "$nw")
	printf '%-44s %s (anon %s, file %s)\n' "aigw serve --workers 1, idle" "$(mb "$a")" "$(mb "$anon")" "$(mb "$file")"
	printf '%-44s %s (master %s + worker %s)\n' "nginx (1 worker, 4096 connections), idle" "$(mb "$n")" \
		"$(mb "$(rss_kb "$nm")")" "$(mb "$(rss_kb "$nw")")"
	stop_nginx
	stop_gw
	# The request log queue is allocated at start (log_queue rows, default
	# 65536): the same serve with the smallest queue shows its share.
	GW_YAML="log_queue: 16" start_gw idle-q16
	curl -s -o /dev/null "http://$gw/healthz"
	sleep 1
	printf '%-44s %s\n' "aigw serve, idle, with log_queue: 16" "$(mb "$(rss_kb "$gw_pid")")"
	stop_gw
}

hold_report() { # label file
	local f=$2
	printf '%s: %s of %s connections answered and kept alive (opened in %s s)\n' "$1" \
		"$(val connections_answered_keepalive "$f")" "$(val connections_requested "$f")" "$(val open_seconds "$f")"
	grep '^connections_failed' "$f" | sed 's/^/    /' || true
	printf '    RSS before %s, with the connections held %s: %s bytes per connection\n' \
		"$(mb "$(val rss_before_kb "$f")")" "$(mb "$(val rss_held_kb "$f")")" "$(val bytes_per_connection "$f")"
	printf '    new request meanwhile: status %s, curl time_total %s s\n' \
		"$(val new_request_status "$f")" "$(val new_request_time_total_s "$f")"
	printf '    still open after 5 s: %s (RSS then %s)\n' "$(val still_open_after_5s "$f")" \
		"$(mb "$(val rss_after_wait_kb "$f")")"
}

section_conns() {
	echo
	echo "== $CONNS idle keep-alive connections (GET /healthz once on each, then held)"
	start_gw conns
	$CAP hold "$gw" "$CONNS" "$gw_pid" 5 >"$work/conns/hold.txt"
	hold_report "aigw serve" "$work/conns/hold.txt"
	start_nginx conns-nginx "$up"
	$CAP hold "127.0.0.1:$nginx_port" "$CONNS" "$nginx_pids" 5 >"$work/conns-nginx/hold.txt"
	hold_report "nginx (master + worker)" "$work/conns-nginx/hold.txt"
	stop_nginx
	stop_gw
}

streams_report() { # label file
	local f=$2
	printf '%s: %s of %s streams completed to [DONE] (failed %s, unfinished %s) in %s s\n' "$1" \
		"$(val completed "$f")" "$(val streams "$f")" "$(val failed "$f")" \
		"$(val unfinished_after_deadline "$f")" "$(val wall_s "$f")"
	printf '    duration per stream (connect to [DONE]) s: min %s, median %s, max %s\n' \
		"$(val duration_min_s "$f")" "$(val duration_median_s "$f")" "$(val duration_max_s "$f")"
	printf '    first event s: median %s, max %s; slowest connect %s s; events %s\n' \
		"$(val first_event_median_s "$f")" "$(val first_event_max_s "$f")" \
		"$(val connect_max_s "$f")" "$(val events "$f")"
	printf '    largest gap between two events of a stream: %s s (tokens are 0.05 s apart)\n' \
		"$(val max_gap_s "$f")"
	printf '    RSS sampled every 100 ms: start %s, peak %s, end %s\n' \
		"$(mb "$(val rss_start_kb "$f")")" "$(mb "$(val rss_peak_kb "$f")")" "$(mb "$(val rss_end_kb "$f")")"
}

section_streams() {
	echo
	echo "== $STREAMS concurrent streams (mock --tokens-per-sec 20 --tokens 100: ~5 s each)"
	start_gw streams --tokens-per-sec 20 --tokens 100
	"$work/sseclient" "$gw" "$STREAMS" "$key" "$gw_pid" >"$work/streams/run1.txt"
	streams_report "aigw serve, run 1" "$work/streams/run1.txt"
	sleep 1
	"$work/sseclient" "$gw" "$STREAMS" "$key" "$gw_pid" >"$work/streams/run2.txt"
	streams_report "aigw serve, run 2 (same process)" "$work/streams/run2.txt"
	printf '    RSS after both runs: %s' "$(mb "$(rss_kb "$gw_pid")")"
	sleep 2 # serve gives free heap back once quiet for a second
	printf ', 2 s later: %s\n' "$(mb "$(rss_kb "$gw_pid")")"
	start_nginx streams-nginx "$up"
	local nm=${nginx_pids%,*} nw=${nginx_pids#*,}
	# nginx needs no key; the header is ignored. RSS sampled: the worker.
	"$work/sseclient" "127.0.0.1:$nginx_port" "$STREAMS" "$key" "$nw" >"$work/streams-nginx/run.txt"
	streams_report "nginx proxy_pass, for reference (RSS: worker only)" "$work/streams-nginx/run.txt"
	stop_nginx
	stop_gw
}

section_slow() {
	echo
	echo "== slow reader: 1 byte a second from a fast stream (mock --tokens-per-sec 0 --tokens 100000)"
	start_gw slow --tokens-per-sec 0 --tokens 100000
	local size
	size=$(curl -s "http://$up/v1/chat/completions" \
		-d '{"model":"mock-1","stream":true,"messages":[{"role":"user","content":"x"}]}' | wc -c)
	echo "the whole answer read directly from the mock: $(mb $((size / 1024))) ($size bytes)"
	$CAP slow "$gw" "$key" "$gw_pid" "$SLOW_SECONDS" >"$work/slow/slow.txt"
	local f="$work/slow/slow.txt"
	printf 'serve RSS: before the request %s, at the start of the stream %s\n' \
		"$(mb "$(val rss_before_request_kb "$f")")" "$(mb "$(val rss_start_kb "$f")")"
	sed -n 's/^rss_after_\([0-9]*\)s_kb \(.*\)/\1 \2/p' "$f" | while read -r s k; do
		printf '    after %2s s: %s\n' "$s" "$(mb "$k")"
	done
	printf '    peak sampled while reading: %s; bytes read slowly: %s\n' \
		"$(mb "$(val rss_peak_sampled_kb "$f")")" "$(val bytes_read_slowly "$f")"
	grep -E '^(stream_ended_early|rest_stalled)' "$f" | sed 's/^/    /' || true
	printf 'then the rest at full speed: %s bytes in %s s, reached [DONE]: %s\n' \
		"$(val rest_bytes "$f")" "$(val rest_seconds "$f")" "$(val rest_reached_done "$f")"
	stop_gw
}

echo "aigw: $AIGW ($("$AIGW" --version 2>/dev/null | head -1)); nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${sections[@]}"; do
	case $s in
	idle | conns | streams | slow) "section_$s" ;;
	*) echo "capacity.sh: unknown section '$s' (idle, conns, streams, slow)" >&2; exit 2 ;;
	esac
done
