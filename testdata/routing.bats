#!/usr/bin/env bats
# Routing that survives failures: retries on another node (429, 5xx,
# connect errors, before the first byte), fallback routes.
bats_require_minimum_version 1.5.0
load helpers
load gateway_helpers

STREAM='{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}'

# two_nodes ROUTE-OPTION... : mock A (options in A_OPTS) and mock B (in
# B_OPTS) as nodes a and b of route chat; key; serve.
two_nodes() {
	start_mock ${A_OPTS:-}
	aigw nodes add a --url "$MOCK_URL" --provider openai -q >/dev/null
	start_mock ${B_OPTS:-}
	aigw nodes add b --url "$MOCK_URL" --provider openai -q >/dev/null
	aigw route add chat --path /v1 --nodes a,b "$@" -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
}

@test "retries: a 503 from one node is answered by another" {
	A_OPTS="--error-rate 1 --error-status 503" two_nodes --retries 1
	for i in 1 2 3 4; do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	eventually 2000 code_is 4 log_rows "node = 'b' and status = 200"
}

@test "retries: a stream whose first node answers 429 comes whole from another" {
	A_OPTS="--rate-limit-rate 1 --retry-after 1s" two_nodes --retries 2
	for i in 1 2 3; do
		stream_code=$(curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" \
			-d "$STREAM" -o "$TEST_DIR/s" -w '%{http_code}')
		[ "$stream_code" = 200 ] && grep -q '\[DONE\]' "$TEST_DIR/s" || fail "$i: $stream_code $(cat "$TEST_DIR/s")"
		[ "$(grep -c '^data: ' "$TEST_DIR/s")" -ge 3 ] || fail "$(cat "$TEST_DIR/s")"
	done
}

@test "a node that answers 429 rests for its Retry-After: the others take its requests" {
	A_OPTS="--rate-limit-rate 1 --retry-after 30s" two_nodes
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 429 ] || fail "first: $CODE $BODY"
	# round robin would alternate: a rests, so b takes every request
	for i in 1 2 3 4; do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	eventually 2000 code_is 4 log_rows "node = 'b' and status = 200"
	[ "$(log_rows "node = 'a'")" = 1 ] || fail "a was asked again: $(log_rows "node = 'a'")"
	grep -q "node 'a': rate limited; resting it 30000 ms" "$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
}

@test "when every node rests after a 429 the gateway says when one is back, without asking them" {
	A_OPTS="--rate-limit-rate 1 --retry-after 30s" B_OPTS="--rate-limit-rate 1 --retry-after 20s" \
		two_nodes --retries 1
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 429 ] || fail "first: $CODE $BODY"
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 429 ] && [ "$(jq -r .error.code <<<"$BODY")" = upstream_rate_limited ] || fail "$CODE $BODY"
	ra=$(sed -n 's/^Retry-After: \([0-9]*\).*/\1/ip' "$TEST_DIR/head")
	[ -n "$ra" ] && [ "$ra" -ge 15 ] && [ "$ra" -le 20 ] || fail "Retry-After: '$ra'"
	# the first request asked both nodes (one retry), the second neither
	[ "$(grep -c "rate limited; resting it" "$TEST_DIR/serve.err")" = 2 ] || fail "$(cat "$TEST_DIR/serve.err")"
}

@test "retries: none configured, the node's answer is the client's" {
	A_OPTS="--error-rate 1 --error-status 503" B_OPTS="--error-rate 1 --error-status 503" two_nodes
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 503 ] || fail "$CODE $BODY"
}

@test "retries: when every node fails, the client gets the last node's answer" {
	A_OPTS="--error-rate 1 --error-status 500" B_OPTS="--error-rate 1 --error-status 502" two_nodes --retries 3
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 502 ] && [ "$(jq -r .error.type <<<"$BODY")" = server_error ] || fail "$CODE $BODY"
	# one attempt per node, not four: retries go to nodes not tried yet
	eventually 2000 code_is 1 log_rows "status = 502"
	[ "$(grep -c retrying "$TEST_DIR/serve.err")" = 1 ] || fail "$(cat "$TEST_DIR/serve.err")"
}

@test "retries: a node that refuses connections is skipped" {
	start_mock
	aigw nodes add up --url "$MOCK_URL" --provider openai -q >/dev/null
	aigw nodes add down --url "http://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')/v1" --provider openai -q >/dev/null
	aigw route add chat --path /v1 --nodes down,up --retries 1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	for i in 1 2 3 4; do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
}

@test "fallback: a route whose nodes all fail hands the request to its fallback route" {
	start_mock --error-rate 1 --error-status 503
	aigw nodes add bad --url "$MOCK_URL" --provider openai -q >/dev/null
	start_mock --tokens 2
	aigw nodes add good --url "$MOCK_URL" --provider openai -q >/dev/null
	aigw route add backup --path /backup --nodes good -q >/dev/null
	aigw route add chat --path /v1 --nodes bad --fallback backup -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	eventually 2000 code_is 1 log_rows "node = 'good' and route = 'backup' and status = 200"
	grep -q "falling back to route 'backup'" "$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
	# a disabled pool falls back at once
	aigw nodes disable bad
	eventually 2000 code_is 200 chat_code gpt-4o -H "$AUTH"
}

@test "timeouts: first_byte_timeout gives a slow node up for another; without one left, 504" {
	A_OPTS="--latency 3s" two_nodes --retries 1 --first-byte-timeout 300ms
	for i in 1 2; do
		t0=$(now_ms)
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
		[ $(($(now_ms) - t0)) -lt 2000 ] || fail "$i: took $(($(now_ms) - t0)) ms"
	done
	aigw route rm chat -q
	aigw route add chat --path /v1 --nodes a --first-byte-timeout 300ms -q >/dev/null
	eventually 2000 code_is 504 chat_code gpt-4o -H "$AUTH"
	chat gpt-4o -H "$AUTH"
	[ "$(jq -r .error.code <<<"$BODY")" = upstream_timeout ] || fail "$BODY"
}

@test "timeouts: idle_timeout ends a stream whose node falls silent, with an error event" {
	A_OPTS="--tokens 6 --tokens-per-sec 2" two_nodes --idle-timeout 250ms
	aigw nodes disable b
	sleep 1.2 # the change is seen within a second
	run curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" -d "$STREAM"
	[[ $output != *'[DONE]'* ]] || fail "$output"
	eventually 2000 code_is 1 log_rows "error = 'upstream_timeout_midway' and stream = 1"
	grep -q "idle_timeout" "$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
}

@test "breakers: every node down gives a clean 503 with Retry-After, without waiting on them" {
	port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
	aigw nodes add a --url "http://127.0.0.1:$(port)/v1" --provider openai -q >/dev/null
	aigw nodes add b --url "http://127.0.0.1:$(port)/v1" --provider openai -q >/dev/null
	aigw route add chat --path /v1 --nodes a,b --retries 1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	# each failure counts toward the nodes' breakers; five in a row open them
	for i in 1 2 3 4 5 6; do chat gpt-4o -H "$AUTH"; done
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 503 ] && [ "$(jq -r .error.code <<<"$BODY")" = no_node_available ] || fail "$CODE $BODY"
	[ "$(header retry-after)" -ge 1 ] || fail "no Retry-After"
}

BODY_JSON='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'

# three_nodes ROUTE-OPTION...: mocks a, b and c (20 ms answers) as route
# chat; key; serve with aigw.yaml in the test directory when it exists.
three_nodes() {
	local n
	for n in a b c; do
		start_mock --latency 20ms
		aigw nodes add "$n" --url "$MOCK_URL" --provider openai -q >/dev/null
	done
	aigw route add chat --path /v1 --nodes a,b,c "$@" -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	if [ -f aigw.yaml ]; then start_serve --config aigw.yaml; else start_serve; fi
}

# load SECONDS RATE: aigw bench against the gateway, its JSON in bench.json.
load_run() {
	aigw bench "$URL/v1/chat/completions" --rate "$2" -c 32 -d "$1" -H "$AUTH" \
		--body "$BODY_JSON" --json >"$TEST_DIR/bench.json" 2>"$TEST_DIR/bench.err"
}

no_failed_requests() {
	local req ok
	req=$(jq .requests "$TEST_DIR/bench.json")
	ok=$(jq .ok "$TEST_DIR/bench.json")
	[ "$req" -ge "$1" ] && [ "$req" = "$ok" ] || fail "requests $req, ok $ok: $(cat "$TEST_DIR/bench.json")"
}

@test "failover: a node killed in the middle of a run fails no request" {
	three_nodes --retries 2
	load_run 4s 50 &
	local bench=$!
	sleep 1.5
	kill -9 "${MOCK_PIDS[0]}"
	wait "$bench"
	no_failed_requests 150
	# a served before the kill and nothing after; the others took its share
	[ "$(log_rows "node = 'a' and status = 200")" -gt 0 ]
	[ "$(log_rows "node = 'b' and status = 200")" -gt 50 ]
	[ "$(log_rows "node = 'c' and status = 200")" -gt 50 ]
	eventually 2000 grep -q 'node a: circuit open' "$TEST_DIR/serve.err"
}

@test "recovery: a restarted node takes traffic again, ramping up over slow start" {
	printf 'slow_start: 3s\nbreaker_open: 1s\noutlier_ejection: 1s\n' >aigw.yaml
	three_nodes --retries 2
	local port
	port=$(sed -n 's/^listening on 127.0.0.1://p' "$TEST_DIR/mock0.out")
	kill -9 "${MOCK_PIDS[0]}"
	# traffic finds a dead and opens its breaker (1 s at first)
	for i in $(seq 12); do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	eventually 2000 grep -q 'node a: circuit open' "$TEST_DIR/serve.err"
	"$AIGW" mock --listen "127.0.0.1:$port" --workers 1 --latency 20ms \
		>"$TEST_DIR/mock-again.out" 2>&1 3>&- &
	MOCK_PIDS+=($!)
	wait_addr "$TEST_DIR/mock-again.out" "$!" >/dev/null
	local before
	before=$(log_rows "node = 'a'")
	# steady traffic: a probe closes the breaker within a second or two,
	# then a's share ramps up over 3 s
	load_run 7s 40
	no_failed_requests 250
	grep -q 'node a: circuit closed' "$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
	[ "$(log_rows "node = 'a' and status = 200")" -gt $((before + 10)) ]
	# within the ramp a takes less than a third of what it takes after it
	local closed ramp after
	closed=$(sql "select min(ts_ms) from request_log where node = 'a' and status = 200")
	ramp=$(log_rows "node = 'a' and ts_ms < $closed + 1500")
	after=$(log_rows "node = 'a' and ts_ms >= $closed + 3000 and ts_ms < $closed + 4500")
	[ "$ramp" -lt "$after" ] || fail "ramp $ramp, after $after"
}

@test "flapping: a node that keeps failing and recovering costs the client nothing" {
	three_nodes --retries 2
	local port
	port=$(sed -n 's/^listening on 127.0.0.1://p' "$TEST_DIR/mock0.out")
	load_run 8s 40 &
	local bench=$!
	for i in 1 2 3; do
		sleep 1
		kill -9 "${MOCK_PIDS[0]}"
		sleep 1
		"$AIGW" mock --listen "127.0.0.1:$port" --workers 1 --latency 20ms \
			>"$TEST_DIR/mock-flap$i.out" 2>&1 3>&- &
		MOCK_PIDS[0]=$!
		wait_addr "$TEST_DIR/mock-flap$i.out" "$!" >/dev/null
	done
	wait "$bench"
	no_failed_requests 250
}

@test "health checks: a node failing its checks is down until they pass again" {
	cat >aigw.yaml <<YAML
health_check_interval: 200ms
health_check_timeout: 500ms
health_check_healthy: 2
health_check_unhealthy: 2
slow_start: 0s
YAML
	three_nodes
	local port
	port=$(sed -n 's/^listening on 127.0.0.1://p' "$TEST_DIR/mock0.out")
	kill -9 "${MOCK_PIDS[0]}"
	eventually 3000 grep -q 'node a: down after 2 failed checks' "$TEST_DIR/serve.err"
	# down: no request goes to a, none fails (no retries configured)
	for i in $(seq 9); do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	[ "$(log_rows "node = 'a'")" = 0 ]
	"$AIGW" mock --listen "127.0.0.1:$port" --workers 1 >"$TEST_DIR/mock-up.out" 2>&1 3>&- &
	MOCK_PIDS+=($!)
	eventually 3000 grep -q 'node a: up again after 2 checks passed' "$TEST_DIR/serve.err"
	for i in $(seq 9); do chat gpt-4o -H "$AUTH"; done
	eventually 2000 code_is 3 log_rows "node = 'a' and status = 200"
}

@test "health checks: a bad setting is refused with its place in aigw.yaml" {
	printf 'health_check_path: models\n' >aigw.yaml
	run aigw serve --config aigw.yaml --listen 127.0.0.1:0
	[ "$status" -ne 0 ]
	[[ "$output" == *"aigw.yaml:1"*"'models' is not a check path"* ]] || fail "$output"
	printf 'health_check_unhealthy: 0\n' >aigw.yaml
	run aigw serve --config aigw.yaml --listen 127.0.0.1:0
	[ "$status" -ne 0 ] && [[ "$output" == *health_check_unhealthy* ]] || fail "$output"
}

@test "cost: a route that prefers cheap nodes sends the cheapest fast enough one nearly everything" {
	# 40 ms answers and a bound of 2x: a loaded machine's jitter does not
	# push the cheap node past the bound (a peak takes ~20 s to forget)
	start_mock --latency 40ms
	aigw nodes add dear --url "$MOCK_URL" --provider openai --cost 250 -q >/dev/null
	start_mock --latency 40ms
	aigw nodes add cheap --url "$MOCK_URL" --provider openai --cost 15 -q >/dev/null
	start_mock --latency 1s
	aigw nodes add cheapest-but-slow --url "$MOCK_URL" --provider openai --cost 1 -q >/dev/null
	aigw route add chat --path /v1 --nodes dear,cheap,cheapest-but-slow --policy peak_ewma \
		--prefer-cheap 200 -q >/dev/null
	[ "$(aigw route show chat --json | jq .prefer_cheap)" = 200 ]
	[ "$(aigw nodes show cheap --json | jq .cost)" = 15 ]
	[ "$(aigw nodes show dear --json | jq .cost)" = 250 ]
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	for i in $(seq 60); do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	eventually 2000 code_is 60 log_rows
	# the slow one is tried, found 25 times slower, and left; of the two
	# fast ones the cheaper takes all but the few exploring picks
	[ "$(log_rows "node = 'cheap'")" -ge 50 ] || fail "$(sql "select node, count(*) from request_log group by node")"
	[ "$(log_rows "node = 'cheapest-but-slow'")" -le 3 ]
}

@test "cost: bad costs and bounds are refused and change nothing" {
	start_mock
	run aigw nodes add a --url "$MOCK_URL" --provider openai --cost -2
	[ "$status" -ne 0 ] && [[ "$output" == *cost* ]] || fail "$output"
	aigw nodes add a --url "$MOCK_URL" --provider openai -q >/dev/null
	run aigw route add chat --path /v1 --nodes a --prefer-cheap 50
	[ "$status" -ne 0 ] && [[ "$output" == *"prefer_cheap 50 is out of range"* ]] || fail "$output"
	[ "$(aigw route list -q | wc -l)" = 0 ]
	[ "$(aigw nodes show a --json | jq .cost)" = null ]
}
