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
