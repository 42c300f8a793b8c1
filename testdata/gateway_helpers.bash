# Helpers for the end-to-end files that run `aigw serve` in front of
# `aigw mock` (serve.bats, providers.bats). Load after helpers: setup and
# teardown here replace the plain ones.

setup() {
	aigw_setup
	MOCK_PIDS=() BG_PIDS=() SERVE_PID='' SERVE_STATUS=''
}

teardown() {
	local pid rc=0
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "${SERVE_PID:-}" ]; then
		stop_serve || rc=1
	fi
	for pid in "${MOCK_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	check_serve_stderr || rc=1
	aigw_teardown
	return $rc
}



now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# eventually MS CMD...: runs CMD every 50 ms until it succeeds, for up to
# MS milliseconds; fails (with CMD's last output) when it never does.
eventually() {
	local deadline=$(($(now_ms) + $1))
	shift
	while :; do
		"$@" >"$TEST_DIR/.eventually" 2>&1 && return 0
		[ "$(now_ms)" -lt "$deadline" ] || break
		sleep 0.05
	done
	echo "never true: $*" >&2
	cat "$TEST_DIR/.eventually" >&2
	return 1
}

# wait_addr FILE PID: waits for "listening on ADDR" in FILE; prints ADDR.
wait_addr() {
	local i
	for i in $(seq 1 300); do
		if grep -q '^listening on ' "$1" 2>/dev/null; then
			sed -n 's/^listening on //p' "$1" | head -1
			return 0
		fi
		kill -0 "$2" 2>/dev/null || break
		sleep 0.02
	done
	return 1
}

# start_mock [OPTION...]: a mock on a free port; sets MOCK_ADDR and
# MOCK_URL (its API base, .../v1). Several may run in one test.
start_mock() {
	local n=${#MOCK_PIDS[@]} pid
	# 3>&-: bats waits for whatever holds its fd 3
	"$AIGW" mock --listen 127.0.0.1:0 --workers 1 "$@" \
		>"$TEST_DIR/mock$n.out" 2>"$TEST_DIR/mock$n.err" 3>&- &
	pid=$!
	MOCK_PIDS+=("$pid")
	MOCK_ADDR=$(wait_addr "$TEST_DIR/mock$n.out" "$pid") || {
		cat "$TEST_DIR/mock$n.err" >&2
		return 1
	}
	MOCK_URL="http://$MOCK_ADDR/v1"
	export MOCK_URL
}

# start_serve [OPTION...]: the gateway on a free port with one worker;
# sets SERVE_PID, SERVE_ADDR and URL. Its stderr is $TEST_DIR/serve.err.
start_serve() {
	"$AIGW" serve --listen 127.0.0.1:0 --workers 1 "$@" \
		>"$TEST_DIR/serve.out" 2>"$TEST_DIR/serve.err" 3>&- &
	SERVE_PID=$!
	SERVE_ADDR=$(wait_addr "$TEST_DIR/serve.out" "$SERVE_PID") || {
		cat "$TEST_DIR/serve.err" >&2
		return 1
	}
	URL="http://$SERVE_ADDR"
}

# wait_serve_exit MS: waits for serve to exit by itself; sets SERVE_STATUS.
wait_serve_exit() {
	local deadline=$(($(now_ms) + $1))
	while kill -0 "$SERVE_PID" 2>/dev/null; do
		[ "$(now_ms)" -lt "$deadline" ] || {
			echo "serve (pid $SERVE_PID) did not exit within $1 ms" >&2
			return 1
		}
		sleep 0.02
	done
	SERVE_STATUS=0
	wait "$SERVE_PID" || SERVE_STATUS=$?
	SERVE_PID=
}

# stop_serve: SIGTERM, then serve must exit 0 within 5 s.
stop_serve() {
	kill -TERM "$SERVE_PID" 2>/dev/null || true
	if ! wait_serve_exit 5000; then
		kill -KILL "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
		SERVE_PID=
		return 1
	fi
	[ "$SERVE_STATUS" -eq 0 ] || {
		echo "serve exited with status $SERVE_STATUS:" >&2
		cat "$TEST_DIR/serve.err" >&2
		return 1
	}
}

# No sanitizer report (ASan, LSan, UBSan) in serve's stderr.
check_serve_stderr() {
	[ -f "$TEST_DIR/serve.err" ] || return 0
	if grep -qE 'Sanitizer|runtime error:' "$TEST_DIR/serve.err"; then
		echo "serve's stderr has a sanitizer report:" >&2
		cat "$TEST_DIR/serve.err" >&2
		return 1
	fi
}

# setup_gateway [MOCK OPTION...]: a mock, node m1 (serving a few named
# models), route 'chat' (/v1) to it, key 't' (KEY, AUTH), and serve.
setup_gateway() {
	start_mock "$@"
	aigw nodes add m1 --url "$MOCK_URL" --provider openai-compatible \
		--models gpt-4o,gpt-4o-mini,text-embedding-3-small,davinci -q >/dev/null
	aigw route add chat --path /v1 --nodes m1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
}

# req METHOD PATH [CURL OPTION...]: sets CODE, BODY, and the response
# head in $TEST_DIR/head.
req() {
	local m=$1 p=$2
	shift 2
	rm -f "$TEST_DIR/head" "$TEST_DIR/body"
	: >"$TEST_DIR/head"
	CODE=$(curl -sS --max-time 10 -X "$m" -D "$TEST_DIR/head" -o "$TEST_DIR/body" \
		-w '%{http_code}' "$@" "$URL$p") || CODE=curl-failed
	BODY=''
	if [ -f "$TEST_DIR/body" ]; then IFS= read -r -d '' BODY <"$TEST_DIR/body" || true; fi
}

# code_of METHOD PATH [CURL OPTION...]: prints the status only.
code_of() {
	local m=$1 p=$2
	shift 2
	curl -s --max-time 10 -X "$m" -o /dev/null -w '%{http_code}' "$@" "$URL$p"
}

# header NAME: the value of the last answer's first NAME header (in bash:
# forks cost more than the requests); header_count NAME: how many it has.
header() {
	local l name=${1,,}
	while IFS= read -r l; do
		l=${l%$'\r'}
		if [[ ${l,,} == "$name:"* ]]; then
			l=${l#*:}
			echo "${l# }"
			return
		fi
	done <"$TEST_DIR/head"
}
header_count() {
	local l name=${1,,} n=0
	while IFS= read -r l; do
		[[ ${l,,} == "$name:"* ]] && n=$((n + 1))
	done <"$TEST_DIR/head"
	echo "$n"
}

# expect_error STATUS CODE METHOD PATH [CURL OPTION...]: the answer is
# STATUS with OpenAI's error shape and that code.
expect_error() {
	local want=$1 code=$2
	shift 2
	req "$@"
	[ "$CODE" = "$want" ] || fail "$* -> $CODE, expected $want: $BODY"
	jq -e --arg c "$code" '.error.code == $c and (.error.type | type == "string")
		and (.error.message | type == "string" and length > 0)' <<<"$BODY" >/dev/null ||
		fail "$* -> $CODE: expected code $code: $BODY"
	[ -n "$(header x-request-id)" ] || fail "$* -> no x-request-id"
}

chat() { # MODEL [CURL OPTION...]: POST a chat completion for MODEL
	local model=$1
	shift
	req POST /v1/chat/completions "$@" \
		-d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}
chat_code() { # MODEL [CURL OPTION...]: prints the status only
	local model=$1
	shift
	code_of POST /v1/chat/completions "$@" \
		-d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}
code_is() { # WANT CMD...: CMD prints WANT
	local got
	got=$("${@:2}")
	[ "$got" = "$1" ] || {
		echo "got $got, expected $1" >&2
		return 1
	}
}

events() { sed -n 's/^data: //p'; }

metric() { # NAME{LABELS} or NAME: its value in /metrics, or nothing
	curl -s --max-time 5 "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

log_rows() { sql "select count(*) from request_log where ${1:-1}"; }
in_flight_is() { [ "$(metric aigw_requests_in_flight)" = "$1" ]; }
