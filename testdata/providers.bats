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

# --------------------------------------------------------- provider dialects

# dialect_gateway DIALECT [MOCK OPTION...]: a mock speaking DIALECT behind
# node n1 (route chat, /v1), a reference mock speaking OpenAI with the same
# options (REF: its API base), a key, and serve.
dialect_gateway() {
	local d=$1
	shift
	export MOCK_KEY=mock-secret
	start_mock "$@"
	REF=$MOCK_URL
	start_mock --dialect "$d" "$@"
	aigw nodes add n1 --url "http://$MOCK_ADDR" --provider "$d" --api-key-env MOCK_KEY -q >/dev/null
	aigw route add chat --path /v1 --nodes n1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
}

# ref PATH BODY: the reference mock's answer.
ref() { curl -sS --max-time 10 "$REF$1" -H 'Content-Type: application/json' -d "$2"; }

PROMPT='"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"alpha beta gamma delta"}]'
TOOLS='"tools":[{"type":"function","function":{"name":"lookup","description":"find things","parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}}]'

# check_dialect DIALECT: the same questions through the gateway to a node
# speaking DIALECT and straight to the OpenAI reference give the same
# answers, plain and streamed, with tools, usage, limits and errors.
check_dialect() {
	local d=$1 want
	dialect_gateway "$d" --tokens 6 --tokens-per-sec 40
	# plain
	want=$(ref /chat/completions "{\"model\":\"test-model\",$PROMPT}")
	chat_body="{\"model\":\"test-model\",$PROMPT}"
	req POST /v1/chat/completions -H "$AUTH" -d "$chat_body"
	[ "$CODE" = 200 ] || fail "$d plain: $CODE $BODY"
	jq -e --argjson w "$want" '.object == "chat.completion" and
		.choices[0].message.role == "assistant" and
		.choices[0].message.content == $w.choices[0].message.content and
		.choices[0].finish_reason == "stop" and
		.usage.prompt_tokens == $w.usage.prompt_tokens and
		.usage.completion_tokens == $w.usage.completion_tokens and
		.usage.total_tokens == $w.usage.total_tokens' <<<"$BODY" >/dev/null ||
		fail "$d plain: $BODY (reference $want)"
	# streamed, every chunk checked, usage asked for
	stream "{\"model\":\"test-model\",\"stream\":true,\"stream_options\":{\"include_usage\":true},$PROMPT}"
	jq -e --argjson w "$want" '.errors == [] and .done and .finish == "stop" and
		.content == $w.choices[0].message.content and
		.usage.prompt_tokens == $w.usage.prompt_tokens and
		.usage.completion_tokens == $w.usage.completion_tokens and
		(.times_ms[-2] - .times_ms[1]) > 60' <<<"$S" >/dev/null || fail "$d stream: $S (reference $want)"
	# streamed without usage: none shown
	stream "{\"model\":\"test-model\",\"stream\":true,$PROMPT}"
	[ "$(s '.errors == [] and .usage == null and .done')" = true ] || fail "$d stream: $S"
	# a tool call, plain and streamed
	want=$(ref /chat/completions "{\"model\":\"test-model\",$PROMPT,$TOOLS}")
	req POST /v1/chat/completions -H "$AUTH" -d "{\"model\":\"test-model\",$PROMPT,$TOOLS}"
	jq -e --argjson w "$want" '.choices[0].finish_reason == "tool_calls" and
		.choices[0].message.tool_calls[0].type == "function" and
		.choices[0].message.tool_calls[0].function.name == "lookup" and
		(.choices[0].message.tool_calls[0].id | length > 0) and
		(.choices[0].message.tool_calls[0].function.arguments | fromjson) ==
		($w.choices[0].message.tool_calls[0].function.arguments | fromjson)' <<<"$BODY" >/dev/null ||
		fail "$d tools: $BODY (reference $want)"
	stream "{\"model\":\"test-model\",\"stream\":true,$PROMPT,$TOOLS}"
	jq -e --argjson w "$want" '.errors == [] and .finish == "tool_calls" and
		.tool_names["0"] == "lookup" and
		(.tools["0"] | fromjson) == ($w.choices[0].message.tool_calls[0].function.arguments | fromjson)' \
		<<<"$S" >/dev/null || fail "$d tools stream: $S (reference $want)"
	# a tool result goes back and text comes out
	req POST /v1/chat/completions -H "$AUTH" -d "{\"model\":\"test-model\",$TOOLS,
		\"messages\":[{\"role\":\"user\",\"content\":\"alpha\"},
		{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"query\\\":\\\"alpha\\\"}\"}}]},
		{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"found it\"}]}"
	[ "$CODE" = 200 ] && [ "$(jq -r '.choices[0].finish_reason' <<<"$BODY")" = stop ] ||
		fail "$d tool result: $CODE $BODY"
	# max_tokens caps the answer: finish reason length
	req POST /v1/chat/completions -H "$AUTH" -d "{\"model\":\"test-model\",\"max_tokens\":2,$PROMPT}"
	jq -e '.choices[0].finish_reason == "length" and .usage.completion_tokens == 2' <<<"$BODY" >/dev/null ||
		fail "$d max_tokens: $BODY"
	# every request logged with its tokens
	eventually 2000 code_is 7 log_rows "node = 'n1' and status = 200 and completion_tokens > 0 and prompt_tokens > 0"
}

# check_dialect_errors DIALECT STATUS TYPE: the dialect's error shape for
# STATUS comes back as OpenAI's, with STATUS.
check_dialect_errors() {
	dialect_gateway "$1" --error-rate 1 --error-status "$2"
	req POST /v1/chat/completions -H "$AUTH" -d "{\"model\":\"test-model\",$PROMPT}"
	[ "$CODE" = "$2" ] || fail "$1 $2: $CODE $BODY"
	jq -e --arg t "$3" '.error.type == $t and (.error.message | length > 0)' <<<"$BODY" >/dev/null ||
		fail "$1 $2: $BODY"
	stream "{\"model\":\"test-model\",\"stream\":true,$PROMPT}"
	[ "$(s .status)" = "$2" ] || fail "$1 $2 stream: $S"
	jq -e --arg t "$3" '.error.type == $t' <<<"$(s .body)" >/dev/null || fail "$1 $2 stream: $S"
}

@test "anthropic dialect: chat, streams, tools, limits through the gateway equal OpenAI's" {
	check_dialect anthropic
}
@test "gemini dialect: chat, streams, tools, limits through the gateway equal OpenAI's" {
	check_dialect gemini
}
@test "ollama dialect: chat, streams, tools, limits through the gateway equal OpenAI's" {
	check_dialect ollama
}
@test "azure dialect: chat, streams, tools, limits through the gateway equal OpenAI's" {
	check_dialect azure
}

# check_embeddings DIALECT: embeddings through DIALECT equal the reference's.
check_embeddings() {
	dialect_gateway "$1"
	want=$(ref /embeddings '{"model":"emb","input":["a b","c"]}')
	req POST /v1/embeddings -H "$AUTH" -d '{"model":"emb","input":["a b","c"]}'
	[ "$CODE" = 200 ] || fail "$1: $CODE $BODY"
	jq -e --argjson w "$want" '.object == "list" and (.data | length) == 2 and
		[.data[].embedding] == [$w.data[].embedding] and .data[1].index == 1' <<<"$BODY" >/dev/null ||
		fail "$1: $BODY (reference $want)"
}

@test "anthropic errors come back in OpenAI's shape with their status" {
	check_dialect_errors anthropic 429 rate_limit_error
}
@test "gemini errors come back in OpenAI's shape with their status" {
	check_dialect_errors gemini 503 server_error
}
@test "ollama errors come back in OpenAI's shape with their status" {
	check_dialect_errors ollama 500 server_error
}
@test "azure errors come back in OpenAI's shape with their status" {
	check_dialect_errors azure 400 invalid_request_error
}
@test "gemini embeddings equal the reference's vectors" {
	check_embeddings gemini
}
@test "ollama embeddings equal the reference's vectors" {
	check_embeddings ollama
}
@test "azure embeddings equal the reference's vectors" {
	check_embeddings azure
}

# check_messages DIALECT: an Anthropic client through the gateway to a node
# speaking DIALECT gets the reference's text and tool calls in Anthropic's
# shapes, plain and streamed.
check_messages() {
	local d=$1 want wantt
	dialect_gateway "$d" --tokens 5 --tokens-per-sec 40
	want=$(ref /chat/completions "{\"model\":\"test-model\",$PROMPT}")
	local msg='{"model":"test-model","max_tokens":50,"system":"be brief","messages":[{"role":"user","content":"alpha beta gamma delta"}]'
	req POST /v1/messages -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -d "$msg}"
	jq -e --argjson w "$want" '.type == "message" and .content[0].text == $w.choices[0].message.content and
		.stop_reason == "end_turn" and .usage.output_tokens == $w.usage.completion_tokens and
		.usage.input_tokens + .usage.cache_read_input_tokens == $w.usage.prompt_tokens' <<<"$BODY" >/dev/null ||
		fail "$d messages: $CODE $BODY (reference $want)"
	STREAM_PATH=/v1/messages stream "$msg,\"stream\":true}" "x-api-key: $KEY" 'anthropic-version: 2023-06-01'
	jq -e --argjson w "$want" '.errors == [] and .done and .finish == "end_turn" and
		.names[0] == "message_start" and .names[-1] == "message_stop" and
		.content == $w.choices[0].message.content and
		.usage.output_tokens == $w.usage.completion_tokens' <<<"$S" >/dev/null ||
		fail "$d messages stream: $S (reference $want)"
	# tools, Anthropic's way
	wantt=$(ref /chat/completions "{\"model\":\"test-model\",$PROMPT,$TOOLS}")
	local tools='"tools":[{"name":"lookup","description":"find things","input_schema":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}]'
	req POST /v1/messages -H "x-api-key: $KEY" -d "$msg,$tools}"
	jq -e --argjson w "$wantt" '.stop_reason == "tool_use" and
		(.content[] | select(.type == "tool_use") | .name == "lookup" and
		 .input == ($w.choices[0].message.tool_calls[0].function.arguments | fromjson))' <<<"$BODY" >/dev/null ||
		fail "$d messages tools: $BODY (reference $wantt)"
	STREAM_PATH=/v1/messages stream "$msg,$tools,\"stream\":true}" "x-api-key: $KEY"
	jq -e --argjson w "$wantt" '.errors == [] and .finish == "tool_use" and
		([.tools[]] | map(fromjson) | index($w.choices[0].message.tool_calls[0].function.arguments | fromjson)) != null' \
		<<<"$S" >/dev/null || fail "$d messages tools stream: $S (reference $wantt)"
}

@test "/v1/messages through an anthropic node: the client's body goes as it is" {
	check_messages anthropic
}
@test "/v1/messages through a gemini node" {
	check_messages gemini
}
@test "/v1/messages through an ollama node" {
	check_messages ollama
}
@test "/v1/messages through an azure node" {
	check_messages azure
}

@test "/v1/messages to an anthropic node keeps what translation would lose (cache_control)" {
	dialect_gateway anthropic --tokens 3
	req POST /v1/messages -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -d '{"model":"test-model",
		"max_tokens":20,"system":[{"type":"text","text":"a long shared preamble","cache_control":{"type":"ephemeral"}}],
		"messages":[{"role":"user","content":"hello"}]}'
	# the mock counts the words of blocks marked cache_control as cache reads:
	# only the client's own body (not a translation) still has the mark
	jq -e '.usage.cache_read_input_tokens == 4 and .usage.input_tokens == 1' <<<"$BODY" >/dev/null ||
		fail "$CODE $BODY"
	# and the log counts every input token, the cached ones too
	eventually 2000 code_is 1 log_rows "prompt_tokens = 5 and completion_tokens = 3"
}

# ---------------------------------------------------------------- accounts

@test "accounts: a 429 rests the account for its Retry-After; the next account is used" {
	export KA=key-a KB=key-b
	start_mock --rate-limit-rate 1 --retry-after 2s
	aigw nodes add n1 --url "$MOCK_URL" --provider openai --api-key-env KA,KB -q >/dev/null
	aigw route add chat --path /v1 --nodes n1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	# both accounts are tried in turn, each answered 429 by the provider
	for i in 1 2; do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 429 ] || fail "$i: $CODE $BODY"
		[ "$(jq -r .error.code <<<"$BODY")" != upstream_rate_limited ] || fail "$i: $BODY"
	done
	# then both rest: the gateway answers at once, saying when to come back
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 429 ] && [ "$(jq -r .error.code <<<"$BODY")" = upstream_rate_limited ] || fail "$CODE $BODY"
	ra=$(header retry-after)
	[ "$ra" -ge 1 ] && [ "$ra" -le 2 ] || fail "Retry-After: $ra"
	# and after the Retry-After the provider is asked again
	sleep 2.1
	chat gpt-4o -H "$AUTH"
	[ "$CODE" = 429 ] && [ "$(jq -r .error.code <<<"$BODY")" != upstream_rate_limited ] || fail "$CODE $BODY"
	grep -q "account 0 rate limited; resting it 2000 ms" "$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
	! grep -q 'key-a\|key-b' "$TEST_DIR/serve.err" # never a secret in the log
}
