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
