#!/usr/bin/env bats
# Providers end to end: aigw serve in front of `aigw mock` speaking each
# provider's dialect; model aliases; prices and the cost of every request.
bats_require_minimum_version 1.5.0
load helpers
load gateway_helpers

# with_config YAML: writes aigw.yaml and points AIGW_CONFIG at it.
with_config() {
	printf '%s\n' "$1" >"$TEST_DIR/aigw.yaml"
	export AIGW_CONFIG="$TEST_DIR/aigw.yaml"
}

# ------------------------------------------------------------------ aliases

@test "aliases: the first target a route can serve now is asked for, by its name" {
	with_config 'aliases:
  fast: [claude-3-5-haiku, gpt-4o-mini]
  smart: gpt-4o
  nowhere: [nothing-serves-this]'
	setup_gateway --tokens 3
	req POST /v1/chat/completions -H "$AUTH" -d '{"model":"fast","messages":[{"role":"user","content":"hi"}]}'
	[ "$CODE" = 200 ] || fail "$CODE: $BODY"
	# the mock answers with the model it was asked for
	[ "$(jq -r .model <<<"$BODY")" = gpt-4o-mini ] || fail "$BODY"
	req POST /v1/chat/completions -H "$AUTH" -d '{"model":"smart","messages":[{"role":"user","content":"hi"}]}'
	[ "$(jq -r .model <<<"$BODY")" = gpt-4o ] || fail "$BODY"
	expect_error 404 model_not_found POST /v1/chat/completions -H "$AUTH" \
		-d '{"model":"nowhere","messages":[{"role":"user","content":"hi"}]}'
	[[ $BODY == *"alias 'nowhere'"* ]] || fail "$BODY"
	# aliases are listed with the models
	req GET /v1/models -H "$AUTH"
	jq -e '[.data[].id] | index("fast") and index("smart") and index("gpt-4o")' <<<"$BODY" >/dev/null ||
		fail "$BODY"
	# the log has the model that was asked of the node
	eventually 1500 code_is 1 log_rows "model = 'gpt-4o-mini'"
}

@test "aliases: a target whose nodes are all disabled is passed over" {
	with_config 'aliases:
  fast: [gpt-4o, gpt-4o-mini]'
	start_mock --tokens 2
	aigw nodes add a --url "$MOCK_URL" --provider openai --models gpt-4o -q >/dev/null
	aigw nodes add b --url "$MOCK_URL" --provider openai --models gpt-4o-mini -q >/dev/null
	aigw route add chat --path /v1 --nodes a,b -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	chat fast -H "$AUTH"
	[ "$(jq -r .model <<<"$BODY")" = gpt-4o ] || fail "$BODY"
	aigw nodes disable a
	eventually 2000 code_is gpt-4o-mini sh -c "curl -s -H '$AUTH' $URL/v1/chat/completions \
		-d '{\"model\":\"fast\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' | jq -r .model"
}

@test "aliases: bad alias entries are config errors naming the line" {
	for bad in 'aliases: [a, b]' 'aliases:
  fast: []' 'aliases:
  "bad name": gpt-4o' 'aliases:
  fast: fast' 'aliases:
  fast: {a: 1}'; do
		printf '%s\n' "$bad" >"$TEST_DIR/bad.yaml"
		run_aigw serve --config "$TEST_DIR/bad.yaml" --listen 127.0.0.1:0
		assert_status 4
		assert_stderr_match 'bad.yaml:[0-9]+:[0-9]+: aliases'
	done
}

# ------------------------------------------------------------------ pricing

@test "pricing: every row gets its cost; unknown prices stay unknown; YAML overrides" {
	with_config 'pricing:
  davinci: {input: 1, output: 2}
  gpt-4o: {input: 3, output: 7}
  "my-*": {input: 0.5, output: 0.5}'
	setup_gateway --tokens 4
	chat gpt-4o -H "$AUTH" -H 'X-Request-Id: priced'
	p=$(jq .usage.prompt_tokens <<<"$BODY") c=$(jq .usage.completion_tokens <<<"$BODY")
	chat gpt-4o-mini -H "$AUTH" -H 'X-Request-Id: builtin'
	p2=$(jq .usage.prompt_tokens <<<"$BODY") c2=$(jq .usage.completion_tokens <<<"$BODY")
	req POST /v1/embeddings -H "$AUTH" -H 'X-Request-Id: emb' -d '{"model":"text-embedding-3-small","input":"a b c d"}'
	req POST /v1/completions -H "$AUTH" -H 'X-Request-Id: override' -d '{"model":"davinci","prompt":"x y"}'
	p3=$(jq .usage.prompt_tokens <<<"$BODY") c3=$(jq .usage.completion_tokens <<<"$BODY")
	aigw route add other --path /other --nodes m1 -q >/dev/null
	eventually 2000 code_is 4 log_rows
	# millionths of a USD: tokens x USD per million tokens
	[ "$(sql "select cost_micro from request_log where request_id = 'priced'")" = $((p * 3 + c * 7)) ]
	# built-in gpt-4o-mini: 0.15 in, 0.60 out
	want=$(awk -v p="$p2" -v c="$c2" 'BEGIN { printf "%.0f", p * 0.15 + c * 0.6 }')
	[ "$(sql "select cost_micro from request_log where request_id = 'builtin'")" = "$want" ]
	# embeddings: 4 words at 0.02
	[ "$(sql "select cost_micro from request_log where request_id = 'emb'")" = 0 ] ||
		[ "$(sql "select cost_micro from request_log where request_id = 'emb'")" = 1 ]
	[ "$(sql "select cost_micro from request_log where request_id = 'override'")" = $((p3 + c3 * 2)) ]
}

@test "pricing: a model no entry covers has an unknown cost, not zero" {
	setup_gateway --tokens 2
	chat davinci -H "$AUTH" -H 'X-Request-Id: unknown-price'
	[ "$CODE" = 200 ]
	eventually 2000 code_is 1 log_rows
	[ "$(sql "select ifnull(cost_micro, 'null'), prompt_tokens > 0 from request_log")" = "null|1" ]
}

@test "pricing: bad price entries are config errors" {
	for bad in 'pricing: [a]' 'pricing:
  gpt-4o: 3' 'pricing:
  gpt-4o: {input: 1}' 'pricing:
  gpt-4o: {input: -1, output: 1}' 'pricing:
  gpt-4o: {input: abc, output: 1}' 'pricing:
  gpt-4o: {input: 1, output: 1, cached: 1}'; do
		printf '%s\n' "$bad" >"$TEST_DIR/bad.yaml"
		run_aigw serve --config "$TEST_DIR/bad.yaml" --listen 127.0.0.1:0
		assert_status 4
		assert_stderr_match 'bad.yaml:[0-9]+:[0-9]+: pricing'
	done
}

# ------------------------------------------------------------------ streams

# stream BODY [HEADER...]: runs the streaming client against serve; sets S
# (its JSON summary).
stream() {
	local body=$1
	shift
	S=$(python3 "$BATS_TEST_DIRNAME/stream_client.py" "$URL${STREAM_PATH:-/v1/chat/completions}" \
		"$body" "$AUTH" "$@") || fail "stream client failed: $S"
}
s() { jq -r "$1" <<<"$S"; }

@test "openai: a stream read by a streaming client, every chunk checked, usage asked for" {
	setup_gateway --tokens 6 --tokens-per-sec 50
	stream '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"one two three"}]}'
	[ "$(s '.errors | length')" = 0 ] || fail "$S"
	[ "$(s .status)" = 200 ] && [ "$(s .done)" = true ] && [ "$(s .finish)" = stop ] || fail "$S"
	# the client did not ask for usage: none shown, but it is logged
	[ "$(s .usage)" = null ] || fail "$S"
	# chunks come as they are made (6 tokens at 50/s: over ~100 ms), not at the end
	[ "$(s '(.times_ms[-2] - .times_ms[1]) > 60')" = true ] || fail "buffered: $S"
	req POST /v1/chat/completions -H "$AUTH" -d '{"model":"gpt-4o","messages":[{"role":"user","content":"one two three"}]}'
	[ "$(s .content)" = "$(jq -r '.choices[0].message.content' <<<"$BODY")" ] || fail "$S vs $BODY"
	stream '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}]}'
	[ "$(s .usage.completion_tokens)" = 6 ] && [ "$(s .usage.prompt_tokens)" = 3 ] || fail "$S"
	eventually 2000 code_is 3 log_rows "completion_tokens = 6 and prompt_tokens = 3"
}

# ------------------------------------------------------------ /v1/messages

MSG='{"model":"gpt-4o","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"alpha beta gamma"}]}'

@test "/v1/messages: an Anthropic client served by an OpenAI node, plain and streamed" {
	setup_gateway --tokens 5 --tokens-per-sec 50
	req POST /v1/chat/completions -H "$AUTH" -d '{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"alpha beta gamma"}]}'
	want=$BODY
	req POST /v1/messages -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -d "$MSG"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	jq -e --argjson w "$want" '.type == "message" and .role == "assistant" and
		(.id | startswith("msg_")) and .content[0].type == "text" and
		.content[0].text == $w.choices[0].message.content and .stop_reason == "end_turn" and
		.usage.input_tokens == $w.usage.prompt_tokens and
		.usage.output_tokens == $w.usage.completion_tokens' <<<"$BODY" >/dev/null || fail "$BODY vs $want"
	STREAM_PATH=/v1/messages stream "${MSG%\}},\"stream\":true}" "x-api-key: $KEY"
	jq -e --argjson w "$want" '.errors == [] and .done and .finish == "end_turn" and
		.names[0] == "message_start" and .names[-1] == "message_stop" and
		.content == $w.choices[0].message.content and
		.usage.output_tokens == $w.usage.completion_tokens and
		.usage.input_tokens == $w.usage.prompt_tokens and
		(.times_ms[-3] - .times_ms[1]) > 40' <<<"$S" >/dev/null || fail "$S"
	# the gateway's own errors come in Anthropic's shape
	req POST /v1/messages -H "x-api-key: $KEY" -d '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}'
	[ "$CODE" = 400 ] || fail "$CODE $BODY"
	jq -e '.type == "error" and .error.type == "invalid_request_error" and (.error.message | test("max_tokens"))' <<<"$BODY" >/dev/null || fail "$BODY"
	req POST /v1/messages -d "$MSG"
	[ "$CODE" = 401 ] && jq -e '.type == "error" and .error.type == "authentication_error"' <<<"$BODY" >/dev/null ||
		fail "$CODE $BODY"
	req POST /v1/messages -H "x-api-key: $KEY" -d '{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}'
	[ "$CODE" = 404 ] && jq -e '.error.type == "not_found_error"' <<<"$BODY" >/dev/null || fail "$CODE $BODY"
	# the chat, the message and the stream: all with their tokens
	eventually 2000 code_is 3 log_rows "model = 'gpt-4o' and status = 200 and completion_tokens = 5"
}
