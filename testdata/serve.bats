#!/usr/bin/env bats
# aigw serve end to end, in front of `aigw mock`: plain and streamed
# completions (chunks spaced in time), embeddings, completions, models,
# every error status, live key/node/route changes, SIGHUP, SIGTERM drain,
# client aborts, request log rows, metrics, the generic HTTP proxy,
# `auth: none`, and bad options. Every process a test starts is stopped in
# teardown, which also fails the test when serve did not exit 0 or printed
# a sanitizer report (leaks show up there under the ASan build).
bats_require_minimum_version 1.5.0
load helpers
load gateway_helpers

CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
STREAM='{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}'
STREAM_USAGE='{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'

# ---------------------------------------------------------------- proxying

@test "chat completion through the gateway: the mock's answer, usage, request ids" {
	setup_gateway --tokens 5
	req POST /v1/chat/completions -H "$AUTH" -d "$CHAT"
	[ "$CODE" = 200 ] || fail "$CODE: $BODY"
	jq -e '(.id | startswith("chatcmpl-")) and .object == "chat.completion" and .model == "gpt-4o"
		and .choices[0].message.role == "assistant"
		and (.choices[0].message.content | split(" ") | length == 5)
		and .choices[0].finish_reason == "stop"
		and .usage.completion_tokens == 5 and (.usage.prompt_tokens | type == "number")
		and .usage.total_tokens == .usage.prompt_tokens + 5' <<<"$BODY" >/dev/null || fail "$BODY"
	[ "$(header content-type)" = application/json ]
	[ "$(header content-length)" = "$(wc -c <"$TEST_DIR/body")" ] || fail "length $(header content-length)"
	# a generated request id, and the time spent in the gateway
	[[ "$(header x-request-id)" =~ ^[0-9a-f]{32}$ ]] || fail "id: $(header x-request-id)"
	[[ "$(header x-aigw-overhead-us)" =~ ^[0-9]+$ ]] || fail "overhead: $(header x-aigw-overhead-us)"
	local first
	first=$(header x-request-id)
	req POST /v1/chat/completions -H "$AUTH" -d "$CHAT"
	[ "$(header x-request-id)" != "$first" ]
	# one of each, not the upstream's and the gateway's
	[ "$(header_count x-request-id)" = 1 ]
	[ "$(header_count date)" = 1 ]
	[ "$(header_count content-length)" = 1 ]
	# an incoming request id is kept; x-api-key works as well as Bearer
	req POST /v1/chat/completions -H "x-api-key: $KEY" -H 'X-Request-Id: my-req-42' -d "$CHAT"
	[ "$CODE" = 200 ]
	[ "$(header x-request-id)" = my-req-42 ]
	[ "$(header_count x-request-id)" = 1 ]
	# errors carry them too
	req POST /v1/chat/completions -H 'X-Request-Id: bad-one' -d "$CHAT"
	[ "$CODE" = 401 ]
	[ "$(header x-request-id)" = bad-one ]
	[[ "$(header x-aigw-overhead-us)" =~ ^[0-9]+$ ]]
	# a keep-alive connection carries several requests
	run curl -sS --max-time 10 -H "$AUTH" -d "$CHAT" "$URL/v1/chat/completions" \
		--next -H "$AUTH" -d "$CHAT" "$URL/v1/chat/completions" -w '%{num_connects}\n'
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = 0 ] || fail "$output" # the second request reused the connection
}

# Prints "<ms since start> <payload>" for each data event of a stream.
timed_events() { # JSON
	local t0 line
	t0=$(date +%s%N)
	curl -sS -N --max-time 10 -H "$AUTH" -D "$TEST_DIR/head" "$URL/v1/chat/completions" -d "$1" |
		while IFS= read -r line; do
			line=${line%$'\r'}
			[[ $line == "data: "* ]] || continue
			echo "$((($(date +%s%N) - t0) / 1000000)) ${line#data: }"
		done
}

@test "streamed completion: events relayed as they come, [DONE] last, X-Accel-Buffering" {
	setup_gateway --tokens 10 --tokens-per-sec 20
	run timed_events "$STREAM"
	[ "$status" -eq 0 ]
	mapfile -t ev <<<"$output"
	[ "${#ev[@]}" -eq 13 ] || fail "$output" # role + 10 tokens + finish + [DONE]
	[ "${ev[12]#* }" = "[DONE]" ] || fail "$output"
	local first=${ev[1]%% *} last=${ev[10]%% *}
	# 10 tokens at 20/s: about 450 ms from the first to the last, not all at once
	[ $((last - first)) -ge 300 ] || fail "tokens spread over $((last - first)) ms: $output"
	[ $((last - first)) -lt 3000 ] || fail "too slow: $output"
	# the text is the mock's, chunk by chunk
	printf '%s\n' "${ev[@]:1:10}" | cut -d' ' -f2- |
		jq -e -s 'all(.object == "chat.completion.chunk" and .model == "gpt-4o")' >/dev/null
	grep -qi '^content-type: text/event-stream' "$TEST_DIR/head"
	[ "$(header x-accel-buffering)" = no ]
	[ "$(header_count x-accel-buffering)" = 1 ] || fail "$(cat "$TEST_DIR/head")"
	[[ "$(header x-request-id)" =~ ^[0-9a-f]{32}$ ]]
	[[ "$(header x-aigw-overhead-us)" =~ ^[0-9]+$ ]]
	# with include_usage the usage chunk comes through before [DONE]
	run curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" -d "$STREAM_USAGE"
	mapfile -t ev < <(events <<<"$output")
	[ "${ev[-1]}" = "[DONE]" ] || fail "$output"
	jq -e '.choices == [] and .usage.completion_tokens == 10' <<<"${ev[-2]}" >/dev/null || fail "$output"
}

@test "after a burst of large requests, serve gives its free heap back once quiet" {
	# ASan's allocator keeps freed memory in quarantine whatever malloc_trim says
	[ -z "${AIGW_SANITIZED:-}" ] || skip "memory is ASan's under make check"
	setup_gateway --latency 1s
	rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status"; }
	# ~1 MB bodies: each connection's buffer grows to hold one
	{ printf '{"model":"gpt-4o","messages":[{"role":"user","content":"'
	  head -c 1000000 /dev/zero | tr '\0' a
	  printf '"}]}'; } >"$TEST_DIR/big.json"
	local i before peak=0 r
	before=$(rss)
	for round in 1 2; do
		for i in $(seq 40); do
			curl -sS --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" \
				--data-binary @"$TEST_DIR/big.json" -o /dev/null 2>&1 3>&- &
			BG_PIDS+=("$!")
		done
		for i in $(seq 12); do
			r=$(rss)
			[ "$r" -gt "$peak" ] && peak=$r
			sleep 0.1
		done
		wait "${BG_PIDS[@]}" 2>/dev/null || true
	done
	[ $((peak - before)) -gt 10000 ] || fail "the burst grew RSS by $((peak - before)) kB only"
	# quiet for a second, then trimmed: back within 5 MB of where it started
	eventually 4000 test_rss_below $((before + 5000))
}
test_rss_below() { [ "$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status")" -lt "$1" ]; }

@test "a stream's logged time to first byte is its first token, not the role chunk" {
	setup_gateway --tokens 3 --ttft 300ms
	curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" -d "$STREAM" >/dev/null
	chat gpt-4o -H "$AUTH" # not streamed: the first byte
	sleep 1
	local s p
	s=$(sql "select ttfb_us from request_log where stream = 1")
	p=$(sql "select ttfb_us from request_log where stream = 0")
	[ "$s" -ge 300000 ] && [ "$s" -lt 2000000 ] || fail "stream ttfb_us $s"
	[ "$p" -lt 300000 ] || fail "plain ttfb_us $p"
}

@test "a stream larger than the request-body limit is relayed whole, logged as complete" {
	# 100,000 tokens at full speed: about 19 MB, over the 8 MiB body limit
	setup_gateway --tokens 100000 --tokens-per-sec 0
	curl -sS -N --max-time 20 -H "$AUTH" "$URL/v1/chat/completions" -d "$STREAM" >"$TEST_DIR/big"
	local size
	size=$(wc -c <"$TEST_DIR/big")
	[ "$size" -gt 16000000 ] || fail "only $size bytes"
	[ "$(tail -c 200 "$TEST_DIR/big" | grep -c '^data: \[DONE\]')" = 1 ] || fail "$(tail -c 300 "$TEST_DIR/big")"
	sleep 1.2
	[ "$(sql "select status || ' ' || ifnull(error, '-') from request_log")" = "200 -" ]
}

@test "embeddings and completions pass through; /v1/models lists the nodes' models" {
	setup_gateway --tokens 3
	req POST /v1/embeddings -H "$AUTH" -d '{"model":"text-embedding-3-small","input":["a b","c"],"dimensions":16}'
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e '.object == "list" and (.data | length == 2) and (.data | map(.embedding | length) == [16, 16])
		and .usage.prompt_tokens == 3' <<<"$BODY" >/dev/null || fail "$BODY"
	req POST /v1/completions -H "$AUTH" -d '{"model":"davinci","prompt":"once upon a time"}'
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e '.object == "text_completion" and .model == "davinci"
		and (.choices[0].text | split(" ") | length == 3)
		and .usage == {"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}' <<<"$BODY" >/dev/null ||
		fail "$BODY"
	# a streamed completion too
	run curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/completions" \
		-d '{"model":"davinci","prompt":"x","stream":true}'
	mapfile -t ev < <(events <<<"$output")
	[ "${#ev[@]}" -eq 5 ] || fail "$output" # 3 tokens + finish + [DONE]
	[ "${ev[4]}" = "[DONE]" ]
	# the union of the models of the enabled nodes, in OpenAI's list shape
	req GET /v1/models -H "$AUTH"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e '.object == "list" and ([.data[].id] | sort == ["davinci","gpt-4o","gpt-4o-mini","text-embedding-3-small"])
		and (.data | all(.object == "model"))' <<<"$BODY" >/dev/null || fail "$BODY"
	# with x-api-key as well; not without a key
	[ "$(code_of GET /v1/models -H "x-api-key: $KEY")" = 200 ]
	expect_error 401 missing_api_key GET /v1/models
	# a second node adds its models (within a second)
	aigw nodes add m2 --url "$MOCK_URL" --provider openai-compatible --models llama3 -q >/dev/null
	models_has() { curl -s --max-time 5 -H "$AUTH" "$URL/v1/models" | jq -e '[.data[].id] | index("llama3")'; }
	eventually 1500 models_has
}

# ---------------------------------------------------------------- errors

@test "every error status with its code in OpenAI's shape" {
	start_mock
	local up=$MOCK_URL
	start_mock --latency 2s
	local slow=$MOCK_URL
	aigw nodes add m1 --url "$up" --provider openai-compatible -q >/dev/null
	aigw nodes add dead --url http://127.0.0.1:1/v1 --provider openai-compatible -q >/dev/null
	aigw nodes add slow --url "$slow" --provider openai-compatible -q >/dev/null
	aigw nodes add off --url "$up" --provider openai-compatible -q >/dev/null
	aigw route add chat --path /v1 --model 'gpt-*' --nodes m1 -q >/dev/null
	aigw route add down --path /v1 --model 'down-*' --nodes dead -q >/dev/null
	aigw route add late --path /v1 --model 'slow-*' --nodes slow --timeout 300ms -q >/dev/null
	aigw route add dark --path /v1 --model 'off-*' --nodes off -q >/dev/null
	aigw nodes disable off -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	local mini
	mini=$(aigw keys create --name mini --models 'gpt-4o-mini' -q)
	start_serve

	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	# 401: no key, a wrong key, a malformed header
	expect_error 401 missing_api_key POST /v1/chat/completions -d "$CHAT"
	[ "$(header www-authenticate)" = Bearer ]
	expect_error 401 invalid_api_key POST /v1/chat/completions -H "Authorization: Bearer ${KEY}x" -d "$CHAT"
	expect_error 401 invalid_api_key POST /v1/chat/completions -H 'x-api-key: aigw_nope' -d "$CHAT"
	expect_error 401 missing_api_key POST /v1/chat/completions -H 'Authorization: Bearer ' -d "$CHAT"
	expect_error 401 missing_api_key POST /v1/chat/completions -H "Authorization: Basic $KEY" -d "$CHAT"
	# 403: a key scoped to other models
	chat gpt-4o-mini -H "Authorization: Bearer $mini"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	expect_error 403 model_not_allowed POST /v1/chat/completions -H "Authorization: Bearer $mini" -d "$CHAT"
	# 404: no route for the model; no route for the path
	expect_error 404 model_not_found POST /v1/chat/completions -H "$AUTH" \
		-d '{"model":"claude-3","messages":[{"role":"user","content":"hi"}]}'
	jq -e '.error.message | contains("claude-3")' <<<"$BODY" >/dev/null || fail "$BODY"
	expect_error 404 not_found GET /nowhere -H "$AUTH"
	# 400: the body is not JSON, not an object, or has no model
	expect_error 400 invalid_json POST /v1/chat/completions -H "$AUTH" -d '{"model": "gpt-4o", "messages": [}'
	expect_error 400 invalid_json POST /v1/chat/completions -H "$AUTH" -d '[1,2]'
	expect_error 400 invalid_json POST /v1/embeddings -H "$AUTH" -d ''
	expect_error 400 missing_model POST /v1/chat/completions -H "$AUTH" -d '{"messages":[{"role":"user","content":"hi"}]}'
	expect_error 400 missing_model POST /v1/completions -H "$AUTH" -d '{"model":"","prompt":"x"}'
	expect_error 400 invalid_model POST /v1/embeddings -H "$AUTH" -d '{"model":7,"input":"x"}'
	# 502: the node refuses connections
	expect_error 502 upstream_unreachable POST /v1/chat/completions -H "$AUTH" \
		-d '{"model":"down-1","messages":[{"role":"user","content":"hi"}]}'
	# 504: the route's timeout passes before the node answers
	local t0 took
	t0=$(now_ms)
	expect_error 504 upstream_timeout POST /v1/chat/completions -H "$AUTH" \
		-d '{"model":"slow-1","messages":[{"role":"user","content":"hi"}]}'
	took=$(($(now_ms) - t0))
	[ "$took" -ge 250 ] && [ "$took" -lt 1500 ] || fail "504 after $took ms"
	# 503: the route's only node is disabled
	expect_error 503 no_node_available POST /v1/chat/completions -H "$AUTH" \
		-d '{"model":"off-1","messages":[{"role":"user","content":"hi"}]}'
	[ "$(header retry-after)" = 1 ]
	# and the gateway still serves
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
}

@test "a key revoked while serve runs is refused within a second and a half; an expired one too" {
	setup_gateway
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 200 ]
	local t0
	t0=$(now_ms)
	aigw keys revoke t -q >/dev/null
	eventually 1500 code_is 401 chat_code gpt-4o -H "$AUTH"
	[ $(($(now_ms) - t0)) -le 1500 ]
	expect_error 401 invalid_api_key POST /v1/chat/completions -H "$AUTH" -d "$CHAT"
	jq -e '.error.message | test("revoked")' <<<"$BODY" >/dev/null || fail "$BODY"
	# a key made while serve runs works as soon, until it expires
	local k2
	k2=$(aigw keys create --name t2 --expires 2s -q)
	eventually 1500 code_is 200 chat_code gpt-4o -H "x-api-key: $k2"
	eventually 3000 code_is 401 chat_code gpt-4o -H "x-api-key: $k2"
	expect_error 401 invalid_api_key POST /v1/chat/completions -H "x-api-key: $k2" -d "$CHAT"
	jq -e '.error.message | test("expired")' <<<"$BODY" >/dev/null || fail "$BODY"
}

@test "nodes and routes added, disabled or removed while serve runs apply within a second and a half" {
	start_mock
	aigw nodes add m1 --url "$MOCK_URL" --provider openai-compatible -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	expect_error 404 model_not_found POST /v1/chat/completions -H "$AUTH" -d "$CHAT"
	local t0
	t0=$(now_ms)
	aigw route add chat --path /v1 --nodes m1 -q >/dev/null
	eventually 1500 code_is 200 chat_code gpt-4o -H "$AUTH"
	[ $(($(now_ms) - t0)) -le 1500 ]
	# a new node and a route to it, for other models
	start_mock
	aigw nodes add m2 --url "$MOCK_URL" --provider openai-compatible -q >/dev/null
	aigw route add two --path /v1 --model 'two-*' --nodes m2 -q >/dev/null
	eventually 1500 code_is 200 chat_code two-1 -H "$AUTH"
	chat two-1 -H "$AUTH"
	[ "$(jq -r .model <<<"$BODY")" = two-1 ]
	# disabling the node: 503; enabling it again: 200
	aigw nodes disable m2 -q >/dev/null
	eventually 1500 code_is 503 chat_code two-1 -H "$AUTH"
	aigw nodes enable m2 -q >/dev/null
	eventually 1500 code_is 200 chat_code two-1 -H "$AUTH"
	# removing the route: back to route 'chat'
	aigw route rm two -q >/dev/null
	aigw nodes disable m1 -q >/dev/null
	eventually 1500 code_is 503 chat_code two-1 -H "$AUTH"
	# the log says which route answered
	last_route() { [ "$(sql "select route || ' ' || status from request_log order by id desc limit 1")" = "$1" ]; }
	eventually 1000 last_route 'chat 503'
}

@test "SIGHUP: a good YAML change applies, a broken one keeps the old config and says why" {
	start_mock
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	fixture serve-hup-old.yaml aigw.yaml
	start_serve --config aigw.yaml
	[ "$(chat_code old-1 -H "$AUTH")" = 200 ]
	[ "$(chat_code new-1 -H "$AUTH")" = 404 ]
	fixture serve-hup-new.yaml aigw.yaml
	kill -HUP "$SERVE_PID"
	eventually 1500 code_is 200 chat_code new-1 -H "$AUTH"
	[ "$(chat_code old-1 -H "$AUTH")" = 200 ]
	eventually 1000 grep -q 'configuration reloaded from aigw.yaml' "$TEST_DIR/serve.err"

	# broken YAML: an error on stderr naming the file, the old config stays
	fixture serve-hup-broken.yaml aigw.yaml
	kill -HUP "$SERVE_PID"
	eventually 1500 grep -q 'SIGHUP: .*aigw.yaml:[0-9]*:[0-9]*: yaml syntax error.*keeping the old configuration' \
		"$TEST_DIR/serve.err"
	kill -0 "$SERVE_PID"
	[ "$(chat_code old-1 -H "$AUTH")" = 200 ]
	[ "$(chat_code new-1 -H "$AUTH")" = 200 ]
	[ "$(chat_code worse-1 -H "$AUTH")" = 404 ]
	# valid YAML with an invalid value: the same
	fixture serve-hup-invalid.yaml aigw.yaml
	kill -HUP "$SERVE_PID"
	eventually 1500 grep -q "SIGHUP: .*timeout: 'soon' is not a duration.*keeping the old configuration" \
		"$TEST_DIR/serve.err"
	[ "$(chat_code new-1 -H "$AUTH")" = 200 ]
	[ "$(chat_code worse-1 -H "$AUTH")" = 404 ]
	# a database change afterwards rebuilds on the last good YAML, not the broken one
	# (with a good config for the command line, which reads aigw.yaml too)
	fixture serve-hup-new.yaml good.yaml
	aigw route add db --path /v1 --model 'db-*' --nodes yaml-mock --config good.yaml -q >/dev/null
	eventually 1500 code_is 200 chat_code db-1 -H "$AUTH"
	[ "$(chat_code new-1 -H "$AUTH")" = 200 ]
	[ "$(chat_code old-1 -H "$AUTH")" = 200 ]
}

@test "SIGTERM drains: a stream in flight completes with [DONE], new connections are refused, exit 0" {
	start_mock --tokens 20 --tokens-per-sec 10
	aigw nodes add m1 --url "$MOCK_URL" --provider openai-compatible -q >/dev/null
	aigw route add chat --path /v1 --nodes m1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	fixture serve-drain.yaml aigw.yaml
	start_serve --config aigw.yaml
	curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" -d "$STREAM" \
		>"$TEST_DIR/stream" 2>"$TEST_DIR/stream.err" 3>&- &
	local curl_pid=$!
	BG_PIDS+=("$curl_pid")
	# the first token is out: the stream is under way
	eventually 2000 grep -q '"content":"[^"]' "$TEST_DIR/stream"
	kill -TERM "$SERVE_PID"
	if grep -q '\[DONE\]' "$TEST_DIR/stream"; then fail "the stream ended before SIGTERM"; fi
	# the listener closes at once
	refused() { ! curl -s --max-time 1 -o /dev/null "$URL/healthz"; }
	eventually 1000 refused
	run curl -sS --max-time 1 "$URL/healthz"
	[ "$status" -eq 7 ] || fail "curl status $status: $output" # couldn't connect
	kill -0 "$SERVE_PID" || fail "serve exited with the stream in flight"
	# the stream completes
	local cs=0
	wait "$curl_pid" || cs=$?
	[ "$cs" -eq 0 ] || fail "curl exit $cs: $(cat "$TEST_DIR/stream.err")"
	mapfile -t ev < <(events <"$TEST_DIR/stream")
	[ "${#ev[@]}" -eq 23 ] || fail "$(cat "$TEST_DIR/stream")" # role + 20 + finish + [DONE]
	[ "${ev[22]}" = "[DONE]" ]
	wait_serve_exit 3000
	[ "$SERVE_STATUS" -eq 0 ] || fail "exit $SERVE_STATUS: $(cat "$TEST_DIR/serve.err")"
	grep -q 'draining (up to 5000 ms)' "$TEST_DIR/serve.err"
	# the stream's row was written before exit
	[ "$(sql "select status || ' ' || stream from request_log where route = 'chat'")" = "200 1" ]
}

@test "SIGTERM: drain_timeout cuts a stream that takes longer, then exit 0" {
	start_mock --tokens 50 --tokens-per-sec 10
	aigw nodes add m1 --url "$MOCK_URL" --provider openai-compatible -q >/dev/null
	aigw route add chat --path /v1 --nodes m1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	printf 'drain_timeout: 500ms\n' >aigw.yaml
	start_serve --config aigw.yaml
	curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" -d "$STREAM" \
		>"$TEST_DIR/stream" 2>/dev/null 3>&- &
	BG_PIDS+=("$!")
	eventually 2000 grep -q '"content":"[^"]' "$TEST_DIR/stream"
	local t0 took
	t0=$(now_ms)
	kill -TERM "$SERVE_PID"
	wait_serve_exit 3000
	took=$(($(now_ms) - t0))
	[ "$SERVE_STATUS" -eq 0 ] || fail "exit $SERVE_STATUS: $(cat "$TEST_DIR/serve.err")"
	[ "$took" -ge 400 ] && [ "$took" -lt 2000 ] || fail "exited $took ms after SIGTERM"
	if grep -q '\[DONE\]' "$TEST_DIR/stream"; then fail "the stream finished"; fi
	# logged as cut by the shutdown, not as the client leaving
	[ "$(sql "select status || ' ' || error from request_log")" = "200 shutdown" ] ||
		fail "$(sql "select * from request_log")"
}

@test "client abort mid-stream: the upstream transfer ends, in-flight back down, a 499 row" {
	setup_gateway --tokens 200 --tokens-per-sec 5
	local base
	base=$(metric aigw_requests_in_flight)
	[[ "$base" =~ ^[0-9]+$ ]] || fail "in flight: '$base'"
	curl -sS -N --max-time 60 -H "$AUTH" -H 'X-Request-Id: gone-1' "$URL/v1/chat/completions" \
		-d "$STREAM" >"$TEST_DIR/stream" 2>/dev/null 3>&- &
	local curl_pid=$!
	BG_PIDS+=("$curl_pid")
	eventually 3000 grep -q '"content":"[^"]' "$TEST_DIR/stream"
	[ "$(metric aigw_requests_in_flight)" -eq $((base + 1)) ]
	# the gateway holds a connection to the mock for it (seen with ss, when there)
	upstream_conns() {
		command -v ss >/dev/null || { echo 0; return; }
		ss -Htn state established "( dport = :${MOCK_ADDR##*:} )" | grep -c . || true
	}
	! command -v ss >/dev/null || [ "$(upstream_conns)" -ge 1 ]
	kill "$curl_pid"
	wait "$curl_pid" 2>/dev/null || true
	eventually 1000 in_flight_is "$base"
	# the upstream transfer was aborted: its connection is closed
	no_upstream() { [ "$(upstream_conns)" -eq 0 ]; }
	eventually 1000 no_upstream
	row() { [ -n "$(sql "select 1 from request_log where request_id = 'gone-1' and (status = 499 or error = 'client_closed')")" ]; }
	eventually 1000 row
	# the status is the one sent (200: the head was out) or 499; the error says why
	# (the head had come: its time to first byte is known)
	run sql "select route, node, model, stream, error, status in (200, 499), ttfb_us > 0
		from request_log where request_id = 'gone-1'"
	[ "$output" = "chat|m1|gpt-4o|1|client_closed|1|1" ] || fail "$output"
	# the gateway and the mock still serve
	req POST /v1/chat/completions -H "$AUTH" -d "$CHAT"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
}

@test "client gone before the upstream answered: 499 client_closed, the transfer ends" {
	setup_gateway --latency 3s
	local base
	base=$(metric aigw_requests_in_flight)
	run curl -sS --max-time 0.4 -H "$AUTH" -H 'X-Request-Id: gone-early' \
		"$URL/v1/chat/completions" -d "$CHAT"
	[ "$status" -eq 28 ] || fail "curl status $status: $output" # timed out
	eventually 1000 in_flight_is "$base"
	row() { [ -n "$(sql "select 1 from request_log where request_id = 'gone-early'")" ]; }
	eventually 1000 row
	run sql "select route, node, status, error, ifnull(ttfb_us, 'null') from request_log
		where request_id = 'gone-early'"
	[ "$output" = "chat|m1|499|client_closed|null" ] || fail "$output"
	if command -v ss >/dev/null; then
		no_upstream() { [ "$(ss -Htn state established "( dport = :${MOCK_ADDR##*:} )" | grep -c .)" -eq 0 ]; }
		eventually 1000 no_upstream
	fi
}

# ---------------------------------------------------------------- accounts

@test "request log: one row per request with key, route, node, model, status and usage tokens" {
	setup_gateway --tokens 5
	local i
	declare -A prompt completion
	for i in 1 2 3; do
		req POST /v1/chat/completions -H "$AUTH" -H "X-Request-Id: plain-$i" \
			-d "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"$(printf 'w%.0s ' $(seq 1 "$i"))\"}]}"
		[ "$CODE" = 200 ]
		prompt[plain-$i]=$(jq .usage.prompt_tokens <<<"$BODY")
		completion[plain-$i]=$(jq .usage.completion_tokens <<<"$BODY")
	done
	for i in 1 2; do
		run curl -sS -N --max-time 10 -H "$AUTH" -H "X-Request-Id: stream-$i" \
			"$URL/v1/chat/completions" -d "$STREAM_USAGE"
		local u
		u=$(events <<<"$output" | grep '"usage":{')
		prompt[stream-$i]=$(jq .usage.prompt_tokens <<<"$u")
		completion[stream-$i]=$(jq .usage.completion_tokens <<<"$u")
	done
	# a stream whose client did not ask for usage: the gateway asks for it
	# upstream, logs it, and the client sees neither the usage chunk nor
	# the "usage":null members that asking adds
	run curl -sS -N --max-time 10 -H "$AUTH" -H 'X-Request-Id: stream-nousage' \
		"$URL/v1/chat/completions" -d "$STREAM"
	[[ $output == *'[DONE]'* && $output != *usage* ]] || fail "$output"
	req POST /v1/embeddings -H "$AUTH" -H 'X-Request-Id: emb' -d '{"model":"text-embedding-3-small","input":"a b c"}'
	[ "$CODE" = 200 ]
	# refusals are logged too
	req POST /v1/chat/completions -H 'X-Request-Id: nokey' -d "$CHAT"
	req GET /nowhere -H "$AUTH" -H 'X-Request-Id: unknown'
	eventually 1500 code_is 9 log_rows
	for i in plain-1 plain-2 plain-3 stream-1 stream-2; do
		run sql "select key_name, route, node, model, status, stream, prompt_tokens, completion_tokens,
			latency_us > 0, ttfb_us > 0, ifnull(error, '') from request_log where request_id = '$i'"
		local s=0
		[[ $i == stream-* ]] && s=1
		[ "$output" = "t|chat|m1|gpt-4o|200|$s|${prompt[$i]}|${completion[$i]}|1|1|" ] ||
			fail "$i: $output (want tokens ${prompt[$i]}/${completion[$i]})"
	done
	# the tokens are the mock's: 5 completion tokens, prompts of 1, 2, 3 words
	[ "${completion[plain-1]}" = 5 ] && [ "${completion[stream-2]}" = 5 ]
	[ "${prompt[plain-3]}" -gt "${prompt[plain-1]}" ]
	run sql "select status, stream, ifnull(prompt_tokens, 'null'), ifnull(completion_tokens, 'null')
		from request_log where request_id = 'stream-nousage'"
	[ "$output" = "200|1|1|5" ] || fail "$output"
	run sql "select model, status, prompt_tokens from request_log where request_id = 'emb'"
	[ "$output" = "text-embedding-3-small|200|3" ] || fail "$output"
	run sql "select ifnull(key_name, ''), status, error from request_log where request_id = 'nokey'"
	[ "$output" = "|401|missing_api_key" ] || fail "$output"
	run sql "select key_name, ifnull(route, ''), ifnull(model, ''), status, error from request_log where request_id = 'unknown'"
	[ "$output" = "t|||404|not_found" ] || fail "$output"
	# ts is the wall clock in ms
	run sql "select count(*) from request_log where abs(ts_ms - strftime('%s','now') * 1000) > 60000"
	[ "$output" = 0 ]
}

@test "/metrics, /healthz, /readyz: contents and readiness without a node" {
	start_mock --tokens 5
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	# no route, no node: alive but not ready
	req GET /healthz
	[ "$CODE" = 200 ] && jq -e '.status == "ok"' <<<"$BODY" >/dev/null
	expect_error 503 not_ready GET /readyz
	aigw nodes add m1 --url "$MOCK_URL" --provider openai-compatible -q >/dev/null
	aigw route add chat --path /v1 --nodes m1 -q >/dev/null
	eventually 1500 code_is 200 code_of GET /readyz
	req GET /readyz
	jq -e '.status == "ready"' <<<"$BODY" >/dev/null

	chat gpt-4o -H "$AUTH"
	chat gpt-4o -H "$AUTH"
	run curl -sS -N --max-time 10 -H "$AUTH" "$URL/v1/chat/completions" -d "$STREAM_USAGE"
	req POST /v1/chat/completions -d "$CHAT" # 401
	req GET /metrics
	[ "$CODE" = 200 ]
	[[ "$(header content-type)" == text/plain* ]]
	local m=$BODY
	has() { grep -qxF -- "$1" <<<"$m" || fail "no line '$1' in /metrics: $m"; }
	has_re() { grep -qE -- "$1" <<<"$m" || fail "no line matching '$1' in /metrics: $m"; }
	has '# TYPE aigw_requests_total counter'
	has 'aigw_requests_total{route="chat",node="m1",status="200"} 3'
	has 'aigw_requests_total{route="",node="",status="401"} 1'
	has '# TYPE aigw_request_duration_seconds histogram'
	has_re '^aigw_request_duration_seconds_bucket\{route="chat",le="[0-9.]+"\} [0-9]+$'
	has 'aigw_request_duration_seconds_bucket{route="chat",le="+Inf"} 3'
	has 'aigw_request_duration_seconds_count{route="chat"} 3'
	has_re '^aigw_request_duration_seconds_sum\{route="chat"\} [0-9.e+-]+$'
	has_re '^aigw_upstream_ttfb_seconds_count\{node="m1"\} 3$'
	has '# TYPE aigw_requests_in_flight gauge'
	has 'aigw_requests_in_flight 1' # this scrape
	has '# TYPE aigw_tokens_total counter'
	has 'aigw_tokens_total{node="m1",kind="completion"} 15'
	has_re '^aigw_tokens_total\{node="m1",kind="prompt"\} [1-9][0-9]*$'
	has '# TYPE aigw_log_rows_dropped_total counter'
	has 'aigw_log_rows_dropped_total 0'
	# buckets never decrease
	grep '^aigw_request_duration_seconds_bucket{route="chat"' <<<"$m" | awk '
		{ if ($2 < prev) exit 1; prev = $2 }' || fail "buckets: $m"
	# no auth needed for these three, even with a wrong key
	[ "$(code_of GET /metrics -H 'Authorization: Bearer nope')" = 200 ]
	[ "$(code_of GET /healthz -H 'Authorization: Bearer nope')" = 200 ]
	# the only node disabled: not ready again
	aigw nodes disable m1 -q >/dev/null
	eventually 1500 code_is 503 code_of GET /readyz
	# health checks and scrapes are not traffic: neither logged nor counted
	sleep 0.5
	[ "$(log_rows)" = 4 ] || fail "$(sql "select status, route from request_log")"
	[ "$(log_rows "route is null or route = ''")" = 1 ] # the 401
	run curl -sS --max-time 5 "$URL/metrics"
	if grep -q 'status="503"' <<<"$output"; then fail "/readyz counted: $output"; fi
}

# ---------------------------------------------------------------- proxy, auth

@test "generic HTTP reverse proxy: a provider http node gets the whole path, its answer comes back" {
	start_mock --models gpt-4o,gpt-4o-mini
	aigw nodes add web --url "http://$MOCK_ADDR" --provider http -q >/dev/null
	aigw route add models --path /v1/models --nodes web -q >/dev/null
	aigw route add raw --path /v1/chat/completions --nodes web -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	# GET /v1/models/ID is not a built-in: it reaches the mock
	req GET /v1/models/gpt-4o -H "$AUTH" -H 'X-Request-Id: via-proxy'
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e '.id == "gpt-4o" and .object == "model" and .owned_by == "aigw-mock"' <<<"$BODY" >/dev/null ||
		fail "$BODY"
	[ "$(header x-request-id)" = via-proxy ]
	[ "$(header_count x-request-id)" = 1 ]
	[ "$(header_count date)" = 1 ]
	[ "$(header_count content-length)" = 1 ]
	# the mock's own 404 comes back as it is (its error code, not the gateway's)
	req GET /v1/models/claude -H "$AUTH"
	[ "$CODE" = 404 ] || fail "$CODE $BODY"
	jq -e '.error.code == "model_not_found"' <<<"$BODY" >/dev/null || fail "$BODY"
	# a POST with its body, through the http node
	req POST /v1/chat/completions -H "$AUTH" -H 'X-Request-Id: raw-post' -d "$CHAT"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e '.object == "chat.completion" and .model == "gpt-4o"' <<<"$BODY" >/dev/null || fail "$BODY"
	# and the mock's 405 for a GET of a POST endpoint
	req GET /v1/chat/completions?x=1 -H "$AUTH"
	[ "$CODE" = 405 ] || fail "$CODE $BODY"
	[ "$(header allow)" = POST ]
	# the log names the route and node
	eventually 1000 code_is 4 log_rows "route in ('models','raw')"
	run sql "select route, node, status from request_log where request_id = 'via-proxy'"
	[ "$output" = "models|web|200" ] || fail "$output"
	# still behind the keys
	expect_error 401 missing_api_key GET /v1/models/gpt-4o
}

@test "auth: none in aigw.yaml lets requests without a key through" {
	start_mock --tokens 3
	fixture serve-auth-none.yaml aigw.yaml
	start_serve --config aigw.yaml
	chat gpt-4o
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e '.usage.completion_tokens == 3' <<<"$BODY" >/dev/null
	[ "$(code_of GET /v1/models)" = 200 ]
	# whatever key is sent does not matter
	[ "$(chat_code gpt-4o -H 'Authorization: Bearer whatever')" = 200 ]
	run curl -sS -N --max-time 10 "$URL/v1/chat/completions" -d "$STREAM"
	[ "$(events <<<"$output" | tail -1)" = "[DONE]" ]
	eventually 1000 code_is 4 log_rows
	[ "$(sql "select count(*) from request_log where route = 'open' and ifnull(key_name, '') = ''")" = 3 ]
	# other errors still apply
	expect_error 400 invalid_json POST /v1/chat/completions -d 'nope'
}

@test "SIGHUP turning auth on applies at once: keyless requests are refused after it" {
	start_mock --tokens 3
	fixture serve-auth-none.yaml aigw.yaml
	start_serve --config aigw.yaml
	[ "$(chat_code gpt-4o)" = 200 ]
	sed -i 's/^auth: none$/auth: keys/' aigw.yaml
	kill -HUP "$SERVE_PID"
	eventually 1500 code_is 401 chat_code gpt-4o
	KEY=$(aigw keys create --name late -q)
	eventually 1500 code_is 200 chat_code gpt-4o -H "Authorization: Bearer $KEY"
}

@test "a model that no node of the matching route serves: 404 model_not_found, not a 503" {
	setup_gateway --tokens 3
	expect_error 404 model_not_found POST /v1/chat/completions -H "$AUTH" \
		-d '{"model":"nope","messages":[{"role":"user","content":"hi"}]}'
	[ -z "$(header retry-after)" ]
}

@test "serve --demo: a built-in mock, a printed key that works, the real database untouched" {
	export TMPDIR="$TEST_DIR/tmp"
	mkdir -p "$TMPDIR"
	start_serve --demo
	key=$(sed -n 's/^demo key: //p' "$TEST_DIR/serve.out")
	[[ $key =~ ^aigw_[0-9A-Za-z]{43}$ ]] || fail "no demo key: $(cat "$TEST_DIR/serve.out")"
	grep -q "^try: curl http://$SERVE_ADDR/v1/chat/completions" "$TEST_DIR/serve.out"
	chat mock-1 -H "Authorization: Bearer $key"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e '.object == "chat.completion"' <<<"$BODY" >/dev/null
	[ "$(code_of GET /v1/models -H "Authorization: Bearer $key" )" = 200 ]
	jq -e '[.data[].id] | index("mock-1") != null' <<<"$(curl -s "$URL/v1/models" -H "Authorization: Bearer $key")" >/dev/null
	# the demo's state lives in a temporary directory, gone after the stop
	[ -n "$(ls "$TMPDIR")" ]
	[ ! -e "$AIGW_DB" ]
	stop_serve
	[ -z "$(ls "$TMPDIR")" ]
}

# ---------------------------------------------------------------- bad input

@test "bad options and addresses: one line, the right exit status, nothing served" {
	run_aigw serve --listen nope --workers 1
	[ "$status" -eq 2 ] || [ "$status" -eq 4 ] || { dump_run; false; }
	assert_stderr_match "^aigw serve: .*'nope'"
	assert_stdout_empty
	run_aigw serve --listen 127.0.0.1:70000 --workers 1
	[ "$status" -eq 2 ] || [ "$status" -eq 4 ] || { dump_run; false; }
	assert_stderr_match "^aigw serve: .*70000"
	run_aigw serve --workers -1
	assert_status 2
	assert_stderr_match '^aigw serve: --workers: '
	run_aigw serve --workers many
	assert_status 2
	assert_stderr_match '^aigw serve: --workers: '
	run_aigw serve --nosuch
	assert_status 2
	assert_stderr_match "^aigw serve: unknown option '--nosuch'"
	run_aigw serve extra
	assert_status 2
	# listen in aigw.yaml: a config error
	printf 'listen: nope\n' >aigw.yaml
	run_aigw serve --config aigw.yaml --workers 1
	assert_status 4
	assert_stderr_match "^aigw serve: aigw.yaml:1:.*'nope'"
	rm aigw.yaml
	# a port in use
	start_mock
	run_aigw serve --listen "$MOCK_ADDR" --workers 1
	assert_status 1
	assert_stderr "aigw serve: cannot listen on $MOCK_ADDR: Address already in use"
	assert_stdout_empty
	run_aigw serve --listen "$MOCK_ADDR" --workers 2
	assert_status 1
	assert_stderr "aigw serve: cannot listen on $MOCK_ADDR: Address already in use"
}
