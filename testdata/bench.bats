#!/usr/bin/env bats
# aigw bench end to end against aigw mock: counts and percentiles against
# the mock's configured timing, LLM streams, the failure taxonomy, open
# loop under a stall, rate steps, reports, compare, overhead, and the
# command-line errors.
bats_require_minimum_version 1.5.0
load helpers

# start_mock [OPTION...]: a mock on a free port in the background; sets
# MOCK_PID and URL (http://host:port). start_mock2 sets MOCK2_PID, URL2.
start_mock() {
	local out="$TEST_DIR/mock$$.$RANDOM" i pid
	"$AIGW" mock --listen 127.0.0.1:0 --workers 1 "$@" >"$out" 2>"$out.err" 3>&- &
	pid=$!
	for i in $(seq 1 250); do
		if grep -q '^listening on ' "$out" 2>/dev/null; then
			MOCK_PID=$pid
			URL="http://$(sed -n 's/^listening on //p' "$out")"
			MOCKS+=("$pid")
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	cat "$out.err" >&2
	return 1
}

MOCKS=()
teardown() {
	local p
	for p in "${MOCKS[@]}"; do
		kill -CONT "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	aigw_teardown
}

CHAT='{"model":"mock-1","messages":[{"role":"user","content":"hello"}]}'

# jqn FILTER: evaluates FILTER on $output (a JSON report) with -e.
jqn() { jq -e "$1" <<<"$output" >/dev/null || fail "jq '$1' on: $output"; }

@test "bench: counts and percentiles agree with the mock's latency" {
	start_mock --latency 20ms
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -c 4 -d 1s --json
	assert_ok
	jqn '.mode == "closed" and .connections == 4 and .requests == .ok and .errors == 0
		and .status["200"] == .requests and .latency_us.count == .requests'
	# 4 connections, 20 ms each: up to 200 in a second
	jqn '.requests >= 100 and .requests <= 204'
	jqn '.latency_us.p50 >= 20000 and .latency_us.p50 <= 30000
		and .latency_us.min >= 20000 and .latency_us.p99 >= .latency_us.p50
		and .latency_us.max >= .latency_us.p99'
	jqn '(.latency_us | [.min, .mean, .p50, .p90, .p99, .["p99.9"], .max] | all(. == floor))'
	# -n is exact
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -c 3 -n 30 --json
	assert_ok
	jqn '.requests == 30 and .ok == 30 and .latency_us.count == 30'
}

@test "bench: TTFT, inter-token time and tokens/s agree with --ttft and --tokens-per-sec" {
	start_mock --ttft 100ms --tokens-per-sec 50 --tokens 10
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" --stream -c 2 -n 4 --json
	assert_ok
	jqn '.llm.streams == 4 and .llm.output_tokens == 40'
	jqn '.llm.ttft_us.p50 >= 100000 and .llm.ttft_us.p50 <= 150000'
	# 50 tokens/s: 20 ms a token
	jqn '.llm.tpot_us.p50 >= 18000 and .llm.tpot_us.p50 <= 25000'
	jqn '.llm.itl_us.count == 36 and .llm.itl_us.p50 >= 15000 and .llm.itl_us.p50 <= 25000'
	# e2e ~ 100 ms + 9 x 20 ms; 10 tokens in ~0.28 s
	jqn '.llm.e2e_us.p50 >= 280000 and .llm.e2e_us.p50 <= 350000'
	jqn '.llm.tokens_per_sec.p50 >= 28 and .llm.tokens_per_sec.p50 <= 36'
	# an SSE answer is recognised without --stream; without the usage
	# chunk the deltas are counted
	run_aigw bench "$URL/v1/chat/completions" -n 2 \
		--body '{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}' --json
	assert_ok
	jqn '.llm.streams == 2 and .llm.output_tokens == 20'
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" --stream -n 2
	assert_ok
	[[ "$output" == *"ttft "* && "$output" == *"tpot "* && "$output" == *"output tokens"* ]] || fail "$output"
}

@test "bench: goodput under --slo" {
	start_mock --ttft 100ms --tokens 2
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" --stream -n 3 --slo ttft=50ms --json
	assert_ok
	jqn '.ok == 3 and .goodput == 0'
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" --stream -n 3 --slo ttft=1s,e2e=2s --json
	assert_ok
	jqn '.ok == 3 and .goodput == 3'
}

@test "bench: status errors and 429 with Retry-After are classified" {
	start_mock --error-rate 0.3 --error-status 503 --rate-limit-rate 0.2 --retry-after 2s
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -c 4 -n 400 --json
	assert_ok
	jqn '(.status | keys) == ["200","429","503"] and ([.status[]] | add) == 400'
	jqn '.status["429"] >= 40 and .status["429"] <= 120 and .status["503"] >= 50 and .status["503"] <= 150'
	jqn '.errors == .status["429"] + .status["503"] and .ok == .status["200"]'
	jqn '.retry_after == {"count": .status["429"], "min_s": 2, "max_s": 2}'
	jqn '.failures == {"connect":0,"reset":0,"timeout":0,"malformed":0}'
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -c 4 -n 50
	assert_ok
	[[ "$output" == *"with Retry-After 2s..2s"* ]] || fail "$output"
	[[ "$output" =~ status\ +200:\ [0-9]+,\ 429:\ [0-9]+,\ 503:\ [0-9]+ ]] || fail "$output"
}

@test "bench: connect errors, timeouts, resets and malformed answers" {
	# nothing listens: connect errors, exit 1, one clear line
	run_aigw bench http://127.0.0.1:1/ -c 3 -d 5s --json
	assert_status 1
	assert_stderr "aigw bench: cannot connect to http://127.0.0.1:1/: Connection refused"
	jqn '.failures.connect == 3 and .requests == 3 and .ok == 0'
	run_aigw bench http://127.0.0.1:1/ -n 1
	assert_fail 1 "aigw bench: cannot connect to http://127.0.0.1:1/: Connection refused"
	# slower than --timeout
	start_mock --latency 2s
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" --timeout 200ms -n 2 --json
	assert_ok
	jqn '.failures.timeout == 2 and .errors == 2 and .requests == 2'
	# the server dies with the request in flight
	"$AIGW" bench "$URL/v1/chat/completions" --body "$CHAT" -n 1 --json >"$TEST_DIR/reset.json" 2>&1 &
	local b=$!
	sleep 0.3
	kill -9 "$MOCK_PID"
	wait "$b" || true
	output=$(cat "$TEST_DIR/reset.json")
	jqn '.failures.reset == 1 and .errors == 1'
	# an answer that is not HTTP
	python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.recv(4096); c.sendall(b"garbage\r\n\r\n"); c.close()
' >"$TEST_DIR/port" 3>&- &
	MOCKS+=($!)
	for _ in $(seq 50); do [ -s "$TEST_DIR/port" ] && break; sleep 0.05; done
	run_aigw bench "http://127.0.0.1:$(cat "$TEST_DIR/port")/" -n 3 --json
	assert_ok
	jqn '.failures.malformed == 3 and .errors == 3'
}

@test "bench: in an open loop a one-second stall shows in p99; a closed loop hides it" {
	start_mock
	local stall
	(sleep 1; kill -STOP "$MOCK_PID"; sleep 1; kill -CONT "$MOCK_PID") 3>&- &
	stall=$!
	run_aigw bench "$URL/v1/models" --rate 200 -c 20 -d 3s --json
	assert_status 0
	jqn '.mode == "open" and .rate == 200 and .requests >= 550 and .requests <= 600'
	jqn '.latency_us.p99 >= 500000 and .latency_us.max >= 900000'
	wait "$stall"
	# (paced by a 5 ms latency, so as not to load the machine for the
	# tests running beside this one)
	kill "$MOCK_PID"
	start_mock --latency 5ms
	(sleep 0.5; kill -STOP "$MOCK_PID"; sleep 1; kill -CONT "$MOCK_PID") 3>&- &
	stall=$!
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -c 4 -d 2s --json
	assert_ok
	jqn '.latency_us.max >= 900000 and .latency_us.p99 < 500000'
	wait "$stall"
}

@test "bench: --rate FROM:TO:STEP reports each step; poisson arrivals" {
	start_mock
	run_aigw bench "$URL/v1/models" --rate 40:120:40 -c 4 -d 500ms --json
	assert_ok
	jqn '(.steps | length) == 3 and ([.steps[].rate] == [40,80,120])'
	jqn 'all(.steps[]; .requests >= .rate * 0.5 * 0.8 and .requests <= .rate * 0.5 + 1)'
	run_aigw bench "$URL/v1/models" --rate 40:80:40 -c 4 -d 300ms
	assert_ok
	[ "${lines[2]}" != "" ] && [[ "${lines[2]}" == *rate*achieved*p99* ]] || fail "$output"
	[ "${#lines[@]}" -eq 5 ] || fail "$output"
	run_aigw bench "$URL/v1/models" --rate 200 --arrivals poisson -c 4 -d 1s --json
	assert_ok
	jqn '.arrivals == "poisson" and .requests >= 120 and .requests <= 300'
}

@test "bench: --dataset in order and sampled, -m and -H" {
	start_mock
	printf '%s\n' '{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"}]}' '' \
		'{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"b"}]}' \
		'{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"c"}]}' >ds.jsonl
	run_aigw bench "$URL/v1/chat/completions" --dataset ds.jsonl --stream -n 6 --json
	assert_ok
	jqn '.llm.output_tokens == 12'
	run_aigw bench "$URL/v1/chat/completions" --dataset ds.jsonl --sample --seed 7 --stream -n 30 --json
	assert_ok
	jqn '.llm.output_tokens >= 30 and .llm.output_tokens <= 90 and .llm.output_tokens != 60'
	printf '{"a":1}\nnot json\n' >bad.jsonl
	run_aigw bench "$URL/" --dataset bad.jsonl -n 1
	assert_fail 2 "aigw bench: --dataset: bad.jsonl: line 2: not a JSON object"
	run_aigw bench "$URL/v1/models" -m DELETE -H 'X-Test: 1' -H 'Accept: */*' -n 3 --json
	assert_ok
	jqn '.status == {"405": 3}'
	echo "$CHAT" >body.json
	run_aigw bench "$URL/v1/chat/completions" --body-file body.json -n 3 --json
	assert_ok
	jqn '.status == {"200": 3}'
}

@test "bench: JSON and CSV reports parse; the generator reports its CPU" {
	start_mock --latency 2ms
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -c 2 -d 1100ms --json
	assert_ok
	assert_lines 1 "$output"
	jqn '.url | endswith("/v1/chat/completions")'
	jqn '(.cpu.user_us | type) == "number" and (.cpu.share >= 0) and (.saturated | type) == "boolean"'
	jqn '(.seconds | length) == 1 and .seconds[0].requests > 0 and .seconds[0].p99_us > 0'
	jqn '.requests_per_sec > 0 and .duration_us >= 1100000'
	run_aigw bench "$URL/v1/models" -n 5 --csv
	assert_ok
	[ "${#lines[@]}" -eq 2 ] || fail "$output"
	[ "$(head -1 <<<"$output" | tr ',' '\n' | wc -l)" -eq "$(tail -1 <<<"$output" | tr ',' '\n' | wc -l)" ]
	python3 -c 'import csv, sys; r = list(csv.DictReader(sys.stdin)); assert r[0]["requests"] == "5" and r[0]["ok"] == "5", r' <<<"$output"
	run_aigw bench "$URL/v1/models" --rate 50:100:50 -d 200ms --csv
	assert_ok
	[ "${#lines[@]}" -eq 3 ] || fail "$output"
	# the text report
	run_aigw bench "$URL/v1/models" -n 5
	assert_ok
	[[ "${lines[0]}" == "target      $URL/v1/models" ]] || fail "$output"
	[[ "$output" == *"p50"*"p99.9"* && "$output" == *"generator"* ]] || fail "$output"
}

@test "bench: a progress line on a terminal, erased at the end; none when piped" {
	start_mock --latency 2ms
	# script(1) gives the command a terminal
	script -qec "$AIGW bench $URL/v1/chat/completions --body '$CHAT' -d 1500ms >/dev/null" \
		"$TEST_DIR/typescript" >"$TEST_DIR/tty.out" </dev/null
	grep -q $'\r\e\\[K1s  [0-9]* req/s  p99 [0-9.]*[mu]*s  errors 0' "$TEST_DIR/tty.out" ||
		fail "$(od -c "$TEST_DIR/tty.out" | head -20)"
	# the last thing written is the erasure
	[ "$(tail -c 4 "$TEST_DIR/tty.out" | od -An -c | tr -d ' ')" = '\r033[K' ] ||
		fail "$(tail -c 40 "$TEST_DIR/tty.out" | od -c)"
	# not on a pipe, nor with -q
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -d 1200ms
	assert_ok
	script -qec "$AIGW bench $URL/v1/chat/completions --body '$CHAT' -d 1200ms -q >/dev/null" \
		"$TEST_DIR/typescript" >"$TEST_DIR/tty.out" </dev/null
	[ ! -s "$TEST_DIR/tty.out" ] || fail "$(od -c "$TEST_DIR/tty.out" | head)"
}

@test "bench: SIGINT ends the run early with the report of what was measured, exit 130" {
	start_mock --latency 2ms
	"$AIGW" bench "$URL/v1/chat/completions" --body "$CHAT" -d 30s --json >int.json 2>int.err 3>&- &
	local b=$! rc=0
	sleep 1
	kill -INT "$b"
	wait "$b" || rc=$?
	[ "$rc" -eq 130 ] || fail "exit $rc: $(cat int.err)"
	[ "$(cat int.err)" = "aigw bench: interrupted" ] || fail "$(cat int.err)"
	output=$(cat int.json)
	jqn '.interrupted == true and .requests > 0 and .duration_us < 10000000'
}

@test "bench compare: side by side with ratios" {
	start_mock
	aigw bench "$URL/v1/models" -n 20 --json >a.json
	aigw bench "$URL/v1/models" -n 40 --json >b.json
	run_aigw bench compare a.json b.json
	assert_ok
	[[ "${lines[0]}" =~ A.*B.*B/A ]] || fail "$output"
	grep -Eq '^requests +20 +40 +2.00$' <<<"$output" || fail "$output"
	grep -Eq '^p99 ' <<<"$output" || fail "$output"
	echo '{"x":1}' >c.json
	run_aigw bench compare a.json c.json
	assert_fail 2 "aigw bench: B: not a report of 'aigw bench --json'"
	run_aigw bench compare a.json
	assert_fail 2 "aigw bench: compare needs two reports: compare A.json B.json"
	run_aigw bench compare a.json nosuch.json
	assert_status 3
}

@test "bench --direct --via: the added latency at each percentile" {
	start_mock --latency 1ms
	local direct=$URL
	start_mock --latency 6ms
	run_aigw bench --direct "$direct/v1/chat/completions" --via "$URL/v1/chat/completions" \
		--body "$CHAT" --rounds 3 -d 200ms --json
	assert_ok
	jqn '.rounds == 3 and .added_us.p50.added >= 4500 and .added_us.p50.added <= 9000'
	jqn '.added_us.p50.spread_min <= .added_us.p50.added and .added_us.p50.spread_max >= .added_us.p50.added'
	jqn '(.added_us | keys) == ["max","p50","p90","p99","p99.9"]'
	run_aigw bench --direct "$direct/v1/models" --via "$URL/v1/models" --rounds 1 -n 5
	assert_ok
	[[ "$output" == *"added"*"spread"* ]] || fail "$output"
	run_aigw bench --direct "$direct/" -n 1
	assert_fail 2 "aigw bench: overhead mode needs both --direct and --via"
	run_aigw bench --direct "$direct/" --via http://127.0.0.1:1/ -n 1
	assert_fail 1 "aigw bench: cannot connect to http://127.0.0.1:1/: Connection refused"
}

@test "bench: https targets through BearSSL, verified against --cacert" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost -days 2 -keyout key.pem -out cert.pem 2>/dev/null
	python3 -c '
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"{\"ok\":true}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("cert.pem", "key.pem")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
' >port 3>&- &
	MOCKS+=($!)
	for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
	local p
	p=$(cat port)
	# keep-alive requests over two TLS connections
	run_aigw bench "https://localhost:$p/" --cacert cert.pem -c 2 -n 20 --json
	assert_ok
	jqn '.requests == 20 and .ok == 20 and .status == {"200": 20} and .errors == 0'
	# the system's anchors do not know this certificate
	run_aigw bench "https://localhost:$p/" -n 2
	assert_fail 1 "aigw bench: cannot connect to https://localhost:$p/: tls: certificate not trusted (BearSSL error 62)"
	# the certificate is for localhost, not for 127.0.0.1
	run_aigw bench "https://127.0.0.1:$p/" --cacert cert.pem -n 1 --json
	assert_status 1
	jqn '.failures.connect == 1 and (.last_failure | startswith("tls: certificate is not for this host name"))'
}

@test "bench: bad options and URLs are one line and exit 2" {
	local u=http://127.0.0.1:9/
	run_aigw bench
	assert_fail 2 "aigw bench: missing URL (see 'aigw bench -h')"
	run_aigw bench $u -c 0
	assert_status 2
	assert_stderr_match "^aigw bench: --connections: "
	run_aigw bench $u --rate fast
	assert_fail 2 "aigw bench: --rate: 'fast' is not a rate (requests/s, more than 0)"
	run_aigw bench $u --rate 10:5:1
	assert_fail 2 "aigw bench: --rate: '10:5:1': TO is less than FROM"
	run_aigw bench $u --slo tpot=1s
	assert_fail 2 "aigw bench: --slo: 'tpot': unknown SLO (known: ttft, e2e)"
	run_aigw bench $u --body '{}' --dataset x
	assert_fail 2 "aigw bench: --body, --body-file and --dataset: give one of them"
	run_aigw bench $u --arrivals poisson
	assert_fail 2 "aigw bench: --arrivals: needs --rate"
	run_aigw bench $u --sample
	assert_fail 2 "aigw bench: --sample: needs --dataset"
	run_aigw bench $u --csv --json
	assert_fail 2 "aigw bench: --csv and --json: give one of them"
	run_aigw bench $u -d soon
	assert_status 2
	assert_stderr_match "^aigw bench: --duration: "
	run_aigw bench $u --conections 3
	assert_status 2
	assert_stderr_match "did you mean '--connections'"
	run_aigw bench https://127.0.0.1:9/ --cacert nosuch.pem -n 1
	assert_fail 3 "aigw bench: cannot read 'nosuch.pem': No such file or directory"
	echo 'not a certificate' >bad.pem
	run_aigw bench https://127.0.0.1:9/ --cacert bad.pem -n 1
	assert_fail 2 "aigw bench: 'bad.pem': no certificate in it"
	run_aigw bench ftp://x/ -n 1
	assert_status 2
	assert_stderr_match "^aigw bench: "
	run_aigw bench $u -H 'bad header' -n 1
	assert_fail 2 "aigw bench: -H 'bad header': not a 'Name: value' header"
	run_aigw bench $u $u
	assert_fail 2 "aigw bench: one URL only"
	run_aigw bench $u --rounds 3
	assert_fail 2 "aigw bench: --rounds: only with --direct and --via"
	run_aigw bench http://no-such-host.invalid/ -n 1
	assert_status 1
	assert_stderr_match "^aigw bench: cannot resolve 'no-such-host.invalid'"
	run_aigw bench $u --body-file nosuch.json
	assert_status 3
}
