# common.sh: what every benchmark script shares. Source it after setting
# `name` (for messages); it makes $work (removed on exit), the pids array
# (every pid added is stopped on exit), and the helpers below.

require_tools() { # tool...: exits with a message when one is missing
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$name: '$tool' not found" >&2; exit 1; }
	done
}

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { # a free TCP port on 127.0.0.1
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_listen() { # file: waits for the "listening on ADDR" line of aigw serve or mock
	for _ in $(seq 100); do grep -q '^listening on ' "$1" 2>/dev/null && return; sleep 0.05; done
	echo "$name: $1 never said it was listening" >&2
	cat "$1" >&2
	exit 1
}

start_nginx_canned() { # PORT BODY: nginx (one worker) answering BODY with 200 to
	# every request, started under the command prefix in the server_cpu
	# array when set (taskset); its pid is added to pids. Needs $NGINX.
	local port=$1 body=$2
	mkdir -p "$work/nginx"
	cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 100000000;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	server {
		listen 127.0.0.1:$port;
		location / {
			default_type application/json;
			return 200 '$body';
		}
	}
}
CONF
	${server_cpu[@]+"${server_cpu[@]}"} "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" \
		2>"$work/nginx/stderr" &
	pids+=($!)
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
		sleep 0.05
	done
	echo "$name: nginx did not start: $(cat "$work/nginx/stderr")" >&2
	exit 1
}

start_nginx_proxy() { # PORT UPSTREAM: nginx (one worker) on PORT proxying
	# to UPSTREAM (host:port) with upstream keep-alive and no buffering, so
	# streams are relayed as they come; its pid is added to pids.
	local port=$1 up=$2
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
		listen 127.0.0.1:$port;
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
}
