#!/usr/bin/env bats
# aigw mock end to end: every endpoint and option through curl, streams
# spaced in time, failures, exits, and the command-line errors.
bats_require_minimum_version 1.5.0
load helpers

# start_mock [OPTION...]: runs the mock on a free port in the background;
# sets MOCK_PID and ADDR (host:port, from its first line).
start_mock() {
	local out="$TEST_DIR/mock.out" i
	# 3>&-: bats waits for whatever holds its fd 3
	"$AIGW" mock --listen 127.0.0.1:0 --workers 1 "$@" >"$out" 2>"$TEST_DIR/mock.err" 3>&- &
	MOCK_PID=$!
	for i in $(seq 1 250); do
		if grep -q '^listening on ' "$out" 2>/dev/null; then
			ADDR=$(sed -n 's/^listening on //p' "$out")
			URL="http://$ADDR"
			return 0
		fi
		kill -0 "$MOCK_PID" 2>/dev/null || break
		sleep 0.02
	done
	cat "$TEST_DIR/mock.err" >&2
	return 1
}

stop_mock() {
	if [ -n "${MOCK_PID:-}" ]; then
		kill "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
		MOCK_PID=
	fi
}

teardown() {
	stop_mock
	aigw_teardown
}

# Waits up to 3 s for the mock to exit by itself; sets MOCK_STATUS.
wait_exit() {
	local i
	for i in $(seq 1 150); do
		if ! kill -0 "$MOCK_PID" 2>/dev/null; then
			MOCK_STATUS=0
			wait "$MOCK_PID" || MOCK_STATUS=$?
			MOCK_PID=
			return 0
		fi
		sleep 0.02
	done
	fail "the mock did not exit"
}

post() { # PATH JSON [curl options...]
	local path=$1 body=$2
	shift 2
	curl -sS "$@" "$URL$path" -H 'Content-Type: application/json' -d "$body"
}

status_of() { # PATH JSON: prints the HTTP status
	curl -s -o /dev/null -w '%{http_code}' "$URL$1" -d "$2"
}

CHAT='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me\na story"}]}'

@test "chat: OpenAI's chat.completion shape, deterministic text, usage" {
	start_mock
	run post /v1/chat/completions "$CHAT"
	[ "$status" -eq 0 ]
	jq -e '(.id | startswith("chatcmpl-")) and .object == "chat.completion"
		and (.created | type == "number") and .model == "gpt-4o-mini"
		and (.choices | length == 1) and .choices[0].index == 0
		and .choices[0].message.role == "assistant"
		and (.choices[0].message.content | split(" ") | length == 16)
		and .choices[0].finish_reason == "stop"
		and .usage == {"prompt_tokens":6,"completion_tokens":16,"total_tokens":22}' \
		<<<"$output" >/dev/null || fail "$output"
	local first
	first=$(jq -r '.choices[0].message.content' <<<"$output")
	# the same prompt, the same text; another prompt, another text
	[ "$(post /v1/chat/completions "$CHAT" | jq -r '.choices[0].message.content')" = "$first" ]
	other=$(post /v1/chat/completions '{"model":"x","messages":[{"role":"user","content":"hello"}]}' |
		jq -r '.choices[0].message.content')
	[ "$other" != "$first" ]
	# content as an array of parts counts its text parts
	run post /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"one two"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"three"}]}]}'
	[ "$(jq .usage.prompt_tokens <<<"$output")" = 3 ] || fail "$output"
	# the answer is JSON with a length
	run curl -sS -D - -o /dev/null "$URL/v1/chat/completions" -d "$CHAT"
	[[ "$output" == *$'Content-Type: application/json\r'* ]] || fail "$output"
	[[ "$output" == *$'Content-Length: '* ]] || fail "$output"
}

@test "chat: --tokens and max_tokens set the length; shorter is finish_reason length" {
	start_mock --tokens 4
	run post /v1/chat/completions "$CHAT"
	jq -e '(.choices[0].message.content | split(" ") | length == 4)
		and .choices[0].finish_reason == "stop" and .usage.completion_tokens == 4' \
		<<<"$output" >/dev/null || fail "$output"
	run post /v1/chat/completions '{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}'
	jq -e '(.choices[0].message.content | split(" ") | length == 2)
		and .choices[0].finish_reason == "length" and .usage.completion_tokens == 2' \
		<<<"$output" >/dev/null || fail "$output"
	run post /v1/chat/completions '{"model":"m","max_completion_tokens":1,"max_tokens":3,"messages":[{"role":"user","content":"hi"}]}'
	[ "$(jq .usage.completion_tokens <<<"$output")" = 1 ] || fail "$output"
	# larger than --tokens changes nothing
	run post /v1/chat/completions '{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}'
	[ "$(jq -r .choices[0].finish_reason <<<"$output")" = stop ] || fail "$output"
}

# The data: payloads of a stream, one per line.
events() { sed -n 's/^data: //p'; }

@test "chat stream: role delta, one token per event, finish, [DONE]; same text as plain" {
	start_mock --tokens 5
	local plain stream
	plain=$(post /v1/chat/completions "$CHAT" | jq -r '.choices[0].message.content')
	run curl -sS -N -D "$TEST_DIR/head" "$URL/v1/chat/completions" \
		-d "${CHAT%\}},\"stream\":true}"
	[ "$status" -eq 0 ]
	grep -qi '^content-type: text/event-stream' "$TEST_DIR/head"
	grep -qi '^transfer-encoding: chunked' "$TEST_DIR/head"
	mapfile -t ev < <(events <<<"$output")
	[ "${#ev[@]}" -eq 8 ] || fail "$output" # role + 5 tokens + finish + [DONE]
	[ "${ev[7]}" = "[DONE]" ]
	jq -e '.object == "chat.completion.chunk" and .model == "gpt-4o-mini"
		and .choices[0].delta == {"role":"assistant","content":""}
		and .choices[0].finish_reason == null and (has("usage") | not)' <<<"${ev[0]}" >/dev/null
	jq -e '.choices[0].delta == {} and .choices[0].finish_reason == "stop"' <<<"${ev[6]}" >/dev/null
	stream=$(printf '%s\n' "${ev[@]:1:5}" | jq -j '.choices[0].delta.content')
	[ "$stream" = "$plain" ] || fail "stream '$stream' vs plain '$plain'"
	# every chunk of one stream has the same id
	[ "$(printf '%s\n' "${ev[@]:0:7}" | jq -r .id | sort -u | wc -l)" -eq 1 ]
}

@test "chat stream: include_usage adds the usage chunk before [DONE]" {
	start_mock --tokens 3
	run post /v1/chat/completions '{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b c d"}]}' -N
	mapfile -t ev < <(events <<<"$output")
	[ "${#ev[@]}" -eq 7 ] || fail "$output" # role + 3 + finish + usage + [DONE]
	[ "${ev[6]}" = "[DONE]" ]
	jq -e '.choices == [] and .usage == {"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}' \
		<<<"${ev[5]}" >/dev/null || fail "${ev[5]}"
	# the others carry "usage": null, as OpenAI's do
	for i in 0 1 2 3 4; do
		jq -e 'has("usage") and .usage == null' <<<"${ev[$i]}" >/dev/null
	done
}

# Prints "<ms since start> <payload>" for each event of a stream.
timed_events() { # JSON
	local t0 line now
	t0=$(date +%s%N)
	curl -sS -N "$URL/v1/chat/completions" -d "$1" | while IFS= read -r line; do
		[[ $line == "data: "* ]] || continue
		now=$(date +%s%N)
		echo "$(((now - t0) / 1000000)) ${line#data: }"
	done
}

@test "chat stream: --ttft and --tokens-per-sec space the chunks in time" {
	start_mock --tokens 4 --ttft 200ms --tokens-per-sec 10
	run timed_events '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
	mapfile -t ev <<<"$output"
	[ "${#ev[@]}" -eq 7 ] || fail "$output"
	local role first last
	role=${ev[0]%% *}
	first=${ev[1]%% *}
	last=${ev[4]%% *}
	# role at once, first token after the ttft, then 100 ms apart. Lower
	# bounds are taken from the request's start: a busy machine can only
	# make a line arrive (or be timed) later, never earlier — which is why
	# the role's "at once" is not bounded above (it flaked at 201 ms on a
	# machine running three builds); it must come before the first token.
	[ "$first" -ge 195 ] || fail "first token at $first ms: $output"
	[ "$last" -ge 495 ] || fail "last token at $last ms: $output"
	[ "$first" -gt "$role" ] || fail "$output"
	[ $((last - first)) -lt 1000 ] || fail "too slow: $output"
}

@test "chat: --latency delays the answer; --jitter stays within its bounds" {
	start_mock --latency 300ms
	run curl -sS -o /dev/null -w '%{time_total}' "$URL/v1/chat/completions" -d "$CHAT"
	awk -v t="$output" 'BEGIN { exit !(t >= 0.3 && t < 1.5) }' || fail "took $output s"
	# the models endpoint does not wait
	run curl -sS -o /dev/null -w '%{time_total}' "$URL/v1/models"
	awk -v t="$output" 'BEGIN { exit !(t < 0.25) }' || fail "models took $output s"
	# a stream's first byte waits too
	run curl -sS -o /dev/null -w '%{time_starttransfer}' "$URL/v1/chat/completions" \
		-d '{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}'
	awk -v t="$output" 'BEGIN { exit !(t >= 0.3) }' || fail "first byte after $output s"
	stop_mock
	start_mock --latency 200ms --jitter 100ms
	for i in 1 2 3 4 5; do
		t=$(curl -sS -o /dev/null -w '%{time_total}' "$URL/v1/chat/completions" -d "$CHAT")
		awk -v t="$t" 'BEGIN { exit !(t >= 0.1 && t < 1.3) }' || fail "took $t s"
	done
}

@test "completions: text_completion shape, prompt arrays, streams" {
	start_mock --tokens 3
	run post /v1/completions '{"model":"davinci","prompt":"once upon a time"}'
	jq -e '(.id | startswith("cmpl-")) and .object == "text_completion" and .model == "davinci"
		and (.choices[0].text | split(" ") | length == 3) and .choices[0].index == 0
		and .choices[0].finish_reason == "stop"
		and .usage == {"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}' \
		<<<"$output" >/dev/null || fail "$output"
	local plain
	plain=$(jq -r '.choices[0].text' <<<"$output")
	run post /v1/completions '{"model":"m","prompt":["a b","c"]}'
	[ "$(jq .usage.prompt_tokens <<<"$output")" = 3 ] || fail "$output"
	run post /v1/completions '{"model":"davinci","prompt":"once upon a time","stream":true,"stream_options":{"include_usage":true}}' -N
	mapfile -t ev < <(events <<<"$output")
	[ "${#ev[@]}" -eq 6 ] || fail "$output" # 3 tokens + finish + usage + [DONE]
	jq -e '.object == "text_completion" and .choices[0].finish_reason == null' <<<"${ev[0]}" >/dev/null
	jq -e '.choices[0].text == "" and .choices[0].finish_reason == "stop"' <<<"${ev[3]}" >/dev/null
	jq -e '.choices == [] and .usage.total_tokens == 7' <<<"${ev[4]}" >/dev/null
	[ "$(printf '%s\n' "${ev[@]:0:3}" | jq -j '.choices[0].text')" = "$plain" ]
	[ "${ev[5]}" = "[DONE]" ]
	[ "$(status_of /v1/completions '{"model":"m"}')" = 400 ]
	[ "$(status_of /v1/completions '{"model":"m","prompt":7}')" = 400 ]
}

@test "embeddings: deterministic unit vectors of the asked dimension" {
	start_mock
	run post /v1/embeddings '{"model":"text-embedding-3-small","input":"hello world"}'
	jq -e '.object == "list" and .model == "text-embedding-3-small"
		and (.data | length == 1) and .data[0].object == "embedding" and .data[0].index == 0
		and (.data[0].embedding | length == 8)
		and ((.data[0].embedding | map(. * .) | add) - 1 | fabs < 0.0001)
		and .usage == {"prompt_tokens":2,"total_tokens":2}' <<<"$output" >/dev/null || fail "$output"
	local v1 v2 v3
	v1=$(jq -c '.data[0].embedding' <<<"$output")
	v2=$(post /v1/embeddings '{"model":"m","input":"hello world"}' | jq -c '.data[0].embedding')
	v3=$(post /v1/embeddings '{"model":"m","input":"hello there"}' | jq -c '.data[0].embedding')
	[ "$v1" = "$v2" ]
	[ "$v1" != "$v3" ]
	run post /v1/embeddings '{"model":"m","input":["hello world","hello there"],"dimensions":32}'
	jq -e '(.data | length == 2) and .data[1].index == 1
		and (.data | map(.embedding | length) == [32, 32])' <<<"$output" >/dev/null || fail "$output"
	# the vector depends on the input only, not on its position
	[ "$(post /v1/embeddings '{"model":"m","input":["hello there"],"dimensions":32}' | jq -c '.data[0].embedding')" = \
		"$(jq -c '.data[1].embedding' <<<"$output")" ]
	# token ids
	run post /v1/embeddings '{"model":"m","input":[1,2,3]}'
	jq -e '(.data | length == 1) and .usage.prompt_tokens == 3' <<<"$output" >/dev/null || fail "$output"
	run post /v1/embeddings '{"model":"m","input":[[1,2],[3]]}'
	jq -e '(.data | length == 2) and .usage.prompt_tokens == 3' <<<"$output" >/dev/null || fail "$output"
	# base64: little-endian float32s
	run post /v1/embeddings '{"model":"m","input":"hello world","encoding_format":"base64"}'
	[ "$(jq -r '.data[0].embedding' <<<"$output" | base64 -d | wc -c)" -eq 32 ] || fail "$output"
	first=$(jq -r '.data[0].embedding' <<<"$output" | base64 -d | od -An -t f4 -N4 | tr -d ' ')
	awk -v a="$first" -v b="$(jq '.[0]' <<<"$v1")" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
		fail "base64 $first vs float $(jq '.[0]' <<<"$v1")"
	[ "$(status_of /v1/embeddings '{"model":"m","input":"x","dimensions":0}')" = 400 ]
	[ "$(status_of /v1/embeddings '{"model":"m","input":"x","dimensions":4097}')" = 400 ]
	[ "$(status_of /v1/embeddings '{"model":"m","input":[]}')" = 400 ]
	[ "$(status_of /v1/embeddings '{"model":"m","input":{"a":1}}')" = 400 ]
	[ "$(status_of /v1/embeddings '{"model":"m","input":"x","encoding_format":"hex"}')" = 400 ]
}

@test "models: the default list, --models, unknown models 404" {
	start_mock
	run curl -sS "$URL/v1/models"
	jq -e '.object == "list" and ([.data[].id] == ["mock-1","gpt-4o","gpt-4o-mini","text-embedding-3-small"])
		and (.data | all(.object == "model" and .owned_by == "aigw-mock" and .created == 1700000000))' \
		<<<"$output" >/dev/null || fail "$output"
	# without --models any model is served
	[ "$(status_of /v1/chat/completions '{"model":"anything","messages":[{"role":"user","content":"x"}]}')" = 200 ]
	stop_mock
	start_mock --models alpha,beta --models gamma
	run curl -sS "$URL/v1/models"
	[ "$(jq -c '[.data[].id]' <<<"$output")" = '["alpha","beta","gamma"]' ] || fail "$output"
	run curl -sS "$URL/v1/models/beta"
	jq -e '.id == "beta" and .object == "model"' <<<"$output" >/dev/null || fail "$output"
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/models/delta")" = 404 ]
	run curl -sS -w '\n%{http_code}' "$URL/v1/chat/completions" -d '{"model":"delta","messages":[{"role":"user","content":"x"}]}'
	[ "${lines[1]}" = 404 ] || fail "$output"
	jq -e '.error.code == "model_not_found" and .error.type == "invalid_request_error"
		and (.error.message | type == "string")' <<<"${lines[0]}" >/dev/null || fail "$output"
	[ "$(status_of /v1/embeddings '{"model":"delta","input":"x"}')" = 404 ]
	[ "$(status_of /v1/chat/completions '{"model":"gamma","messages":[{"role":"user","content":"x"}]}')" = 200 ]
}

@test "bad requests: invalid JSON, missing fields, unknown paths, wrong methods" {
	start_mock
	run curl -sS -w '\n%{http_code}' "$URL/v1/chat/completions" -d '{"model": "m", "messages": [}'
	[ "${lines[1]}" = 400 ] || fail "$output"
	jq -e '.error.type == "invalid_request_error" and .error.code == "invalid_json"' <<<"${lines[0]}" >/dev/null
	[ "$(status_of /v1/chat/completions '')" = 400 ]
	[ "$(status_of /v1/chat/completions '[1,2]')" = 400 ]
	[ "$(status_of /v1/chat/completions '{"model":"m"} x')" = 400 ]
	[ "$(status_of /v1/chat/completions '{"model":"m","messages":"x\u00zz"}')" = 400 ]
	run curl -sS -w '\n%{http_code}' "$URL/v1/chat/completions" -d '{"model":"m"}'
	[ "${lines[1]}" = 400 ] || fail "$output"
	[ "$(jq -r .error.code <<<"${lines[0]}")" = missing_required_parameter ]
	[ "$(status_of /v1/chat/completions '{"model":"m","messages":[]}')" = 400 ]
	[ "$(status_of /v1/chat/completions '{"model":"m","messages":[1]}')" = 400 ]
	[ "$(status_of /v1/chat/completions '{"messages":[{"role":"user","content":"x"}]}')" = 400 ]
	[ "$(status_of /v1/chat/completions '{"model":7,"messages":[{"role":"user","content":"x"}]}')" = 400 ]
	[ "$(status_of /v1/chat/completions '{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}')" = 400 ]
	[ "$(status_of /v1/chat/completions '{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}')" = 400 ]
	[ "$(status_of /v1/nothing '{}')" = 404 ]
	run curl -sS -D - -o /dev/null "$URL/v1/chat/completions"
	[[ "$output" == "HTTP/1.1 405 "* ]] || fail "$output"
	[[ "$output" == *$'Allow: POST\r'* ]] || fail "$output"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/models")" = 405 ]
	# deep nesting is refused, not a crash
	deep=$(printf '%.0s[' $(seq 1 200))
	[ "$(status_of /v1/chat/completions "{\"model\":\"m\",\"x\":$deep}")" = 400 ]
	# and the mock still serves
	[ "$(status_of /v1/chat/completions "$CHAT")" = 200 ]
}

@test "--error-rate 1 answers the error status in OpenAI's shape" {
	start_mock --error-rate 1
	run curl -sS -w '\n%{http_code}' "$URL/v1/chat/completions" -d "$CHAT"
	[ "${lines[1]}" = 500 ] || fail "$output"
	jq -e '.error.type == "server_error" and .error.code == "mock_error"' <<<"${lines[0]}" >/dev/null
	# the model list still answers
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/models")" = 200 ]
	stop_mock
	start_mock --error-rate 1 --error-status 503
	[ "$(status_of /v1/embeddings '{"model":"m","input":"x"}')" = 503 ]
	[ "$(status_of /v1/chat/completions "${CHAT%\}},\"stream\":true}")" = 503 ]
}

@test "--error-rate with --seed: the same fate sequence every run" {
	local a b
	start_mock --error-rate 0.5 --seed 7
	a=$(for i in $(seq 1 24); do status_of /v1/chat/completions "$CHAT"; echo; done | tr '\n' ' ')
	stop_mock
	start_mock --error-rate 0.5 --seed 7
	b=$(for i in $(seq 1 24); do status_of /v1/chat/completions "$CHAT"; echo; done | tr '\n' ' ')
	[ "$a" = "$b" ] || fail "$a vs $b"
	[[ "$a" == *200* && "$a" == *500* ]] || fail "$a"
}

@test "--rate-limit-rate 1 answers 429 with Retry-After" {
	start_mock --rate-limit-rate 1 --retry-after 2500ms
	run curl -sS -D "$TEST_DIR/head" -w '\n%{http_code}' "$URL/v1/chat/completions" -d "$CHAT"
	[ "${lines[1]}" = 429 ] || fail "$output"
	jq -e '.error.code == "rate_limit_exceeded"' <<<"${lines[0]}" >/dev/null
	grep -q $'^Retry-After: 3\r$' "$TEST_DIR/head" || fail "$(cat "$TEST_DIR/head")"
	grep -q $'^retry-after-ms: 2500\r$' "$TEST_DIR/head"
	stop_mock
	start_mock --rate-limit-rate 1
	curl -sS -D - -o /dev/null "$URL/v1/completions" -d '{"model":"m","prompt":"x"}' |
		grep -q $'^Retry-After: 1\r$'
}

@test "--requests N exits 0 after N requests; --duration after D" {
	start_mock --requests 3
	for i in 1 2 3; do
		[ "$(status_of /v1/chat/completions "$CHAT")" = 200 ]
	done
	wait_exit
	[ "$MOCK_STATUS" -eq 0 ]
	[ "$(cat "$TEST_DIR/mock.err")" = "aigw mock: stopped after 3 requests" ]
	start_mock --duration 300ms
	local t0=$SECONDS
	wait_exit
	[ "$MOCK_STATUS" -eq 0 ]
	[ $((SECONDS - t0)) -le 2 ]
}

@test "SIGTERM drains: a stream in flight finishes, then exit 0" {
	start_mock --tokens 4 --tokens-per-sec 10
	curl -sS -N "$URL/v1/chat/completions" \
		-d '{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}' \
		>"$TEST_DIR/stream" 3>&- &
	local curl_pid=$!
	sleep 0.15
	kill -TERM "$MOCK_PID"
	wait "$curl_pid"
	wait_exit
	[ "$MOCK_STATUS" -eq 0 ]
	[ "$(events <"$TEST_DIR/stream" | tail -1)" = "[DONE]" ] || fail "$(cat "$TEST_DIR/stream")"
	[ "$(events <"$TEST_DIR/stream" | wc -l)" -eq 7 ]
	# SIGINT too
	start_mock
	kill -INT "$MOCK_PID"
	wait_exit
	[ "$MOCK_STATUS" -eq 0 ]
}

@test "--json prints the address as JSON" {
	"$AIGW" mock --listen 127.0.0.1:0 --workers 2 --json --requests 1 >"$TEST_DIR/out" 2>/dev/null 3>&- &
	MOCK_PID=$!
	for i in $(seq 1 100); do [ -s "$TEST_DIR/out" ] && break; sleep 0.02; done
	jq -e '(.address | test("^127\\.0\\.0\\.1:[0-9]+$")) and .workers == 2' "$TEST_DIR/out" >/dev/null ||
		fail "$(cat "$TEST_DIR/out")"
	URL="http://$(jq -r .address "$TEST_DIR/out")"
	curl -sS "$URL/v1/models" >/dev/null
	wait_exit
	[ "$MOCK_STATUS" -eq 0 ]
}

@test "a port in use is a clear error, exit 1" {
	start_mock
	run_aigw mock --listen "$ADDR" --workers 1
	assert_status 1
	assert_stderr "aigw mock: cannot listen on $ADDR: Address already in use"
	# with several workers too (their SO_REUSEPORT must not share the port)
	run_aigw mock --listen "$ADDR" --workers 2
	assert_status 1
	# the first one still serves
	[ "$(status_of /v1/chat/completions "$CHAT")" = 200 ]
}

@test "bad options exit 2 with one line" {
	local args
	while IFS='|' read -r args want; do
		# shellcheck disable=SC2086
		run_aigw mock $args
		assert_status 2
		assert_stderr_match "^aigw mock: $want"
	done <<-'EOF'
	--tokens -1|--tokens: 
	--tokens many|--tokens: 
	--tokens 100001|--tokens: 
	--error-rate 2|--error-rate: '2' is not a number between 0 and 1
	--error-rate x|--error-rate: 'x' is not a number between 0 and 1
	--rate-limit-rate -0.5|--rate-limit-rate: 
	--error-status 200|--error-status: 
	--latency 5|--latency: 
	--jitter soon|--jitter: 
	--ttft -1s|--ttft: 
	--tokens-per-sec fast|--tokens-per-sec: 
	--retry-after 1|--retry-after: 
	--duration 0s|--duration: must be more than 0
	--requests 0|--requests: 
	--workers 0|--workers: 
	--seed -3|--seed: 
	--dialect nosuch|--dialect: unknown dialect 'nosuch' \(known: openai, anthropic, gemini, ollama, azure\)
	--listen nonsense|invalid listen address 'nonsense'
	--nosuch|unknown option '--nosuch'
	extra|
	EOF
}

# ------------------------------------------------------------ tool calls (openai)

TOOLS='"tools":[{"type":"function","function":{"name":"search","parameters":{"type":"object"}}},{"type":"function","function":{"name":"fetch"}}]'

@test "openai tool calls: first or forced tool, query from the last user text, pieces in streams" {
	start_mock --tokens 4
	run post /v1/chat/completions "{\"model\":\"m\",$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"Find the  \\\"best\\\" pizza in town tonight please\"}]}"
	jq -e '.choices[0].finish_reason == "tool_calls" and .choices[0].message.content == null
		and (.choices[0].message.tool_calls | length == 1)
		and (.choices[0].message.tool_calls[0].id | startswith("call_"))
		and .choices[0].message.tool_calls[0].type == "function"
		and .choices[0].message.tool_calls[0].function.name == "search"
		and .choices[0].message.tool_calls[0].function.arguments == "{\"query\": \"Find the \\\"best\\\" pizza in town\"}"
		and (.choices[0].message.tool_calls[0].function.arguments | fromjson == {"query":"Find the \"best\" pizza in town"})
		and .usage.completion_tokens == 8' <<<"$output" >/dev/null || fail "$output"
	# forced
	run post /v1/chat/completions "{\"model\":\"m\",$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"fetch\"}},\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}]}"
	jq -e '.choices[0].message.tool_calls[0].function.name == "fetch"
		and .choices[0].message.tool_calls[0].function.arguments == "{\"query\": \"a b\"}"' <<<"$output" >/dev/null || fail "$output"
	# none, and after a tool result: text
	run post /v1/chat/completions "{\"model\":\"m\",$TOOLS,\"tool_choice\":\"none\",\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}]}"
	jq -e '.choices[0].finish_reason == "stop" and (.choices[0].message.content | split(" ") | length == 4)' <<<"$output" >/dev/null || fail "$output"
	run post /v1/chat/completions "{\"model\":\"m\",$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"a b\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"search\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"result\"}]}"
	jq -e '.choices[0].finish_reason == "stop" and (.choices[0].message | has("tool_calls") | not)' <<<"$output" >/dev/null || fail "$output"
	# streamed: the head names the call, then argument pieces, finish tool_calls
	run post /v1/chat/completions "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"weather in paris\"}]}" -N
	mapfile -t ev < <(events <<<"$output")
	[ "${#ev[@]}" -eq 9 ] || fail "$output" # head + 5 pieces + finish + usage + [DONE]
	jq -e '.choices[0].delta.role == "assistant" and .choices[0].delta.tool_calls[0].index == 0
		and .choices[0].delta.tool_calls[0].function == {"name":"search","arguments":""}
		and (.choices[0].delta.tool_calls[0].id | startswith("call_"))' <<<"${ev[0]}" >/dev/null || fail "${ev[0]}"
	args=$(printf '%s\n' "${ev[@]:1:5}" | jq -j '.choices[0].delta.tool_calls[0].function.arguments')
	[ "$args" = '{"query": "weather in paris"}' ] || fail "$args"
	jq -e '.choices[0].finish_reason == "tool_calls"' <<<"${ev[6]}" >/dev/null || fail "${ev[6]}"
	jq -e '.choices == [] and .usage.completion_tokens == 5' <<<"${ev[7]}" >/dev/null || fail "${ev[7]}"
	[ "${ev[8]}" = "[DONE]" ]
}

# ------------------------------------------------------------ anthropic

AH=(-H 'x-api-key: test' -H 'anthropic-version: 2023-06-01')
MSG='{"model":"claude-x","max_tokens":100,"system":[{"type":"text","text":"You are a cached system prompt","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a story"}]}]}'

# The event names of an SSE stream, one per line.
event_names() { sed -n 's/^event: //p'; }

@test "anthropic: message shape, cache_control words as cache reads, deterministic" {
	start_mock --dialect anthropic --tokens 5
	run post /v1/messages "$MSG" "${AH[@]}"
	[ "$status" -eq 0 ]
	jq -e '(.id | test("^msg_[0-9a-f]+$")) and .type == "message" and .role == "assistant"
		and .model == "claude-x" and (.content | length == 1) and .content[0].type == "text"
		and (.content[0].text | split(" ") | length == 5)
		and .stop_reason == "end_turn" and .stop_sequence == null
		and .usage == {"input_tokens":4,"cache_creation_input_tokens":0,"cache_read_input_tokens":6,"output_tokens":5}
		and (keys == ["content","id","model","role","stop_reason","stop_sequence","type","usage"])' \
		<<<"$output" >/dev/null || fail "$output"
	[ "$(post /v1/messages "$MSG" "${AH[@]}" | jq -r '.content[0].text')" = "$(jq -r '.content[0].text' <<<"$output")" ]
	# max_tokens smaller: stop_reason max_tokens
	run post /v1/messages '{"model":"c","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}' "${AH[@]}"
	jq -e '.stop_reason == "max_tokens" and .usage.output_tokens == 2
		and (.content[0].text | split(" ") | length == 2)' <<<"$output" >/dev/null || fail "$output"
	# the model list
	run curl -sS "$URL/v1/models" "${AH[@]}"
	jq -e '(.data | length > 0) and (.data | all(.type == "model")) and .has_more == false' \
		<<<"$output" >/dev/null || fail "$output"
	run curl -sS "$URL/v1/models/claude-x" "${AH[@]}"
	jq -e '.type == "model" and .id == "claude-x"' <<<"$output" >/dev/null || fail "$output"
}

@test "anthropic stream: Anthropic's events in order, one delta per token, usage" {
	start_mock --dialect anthropic --tokens 4
	local plain
	plain=$(post /v1/messages "$MSG" "${AH[@]}" | jq -r '.content[0].text')
	run post /v1/messages "${MSG%\}},\"stream\":true}" "${AH[@]}" -N -D "$TEST_DIR/head"
	grep -qi '^content-type: text/event-stream' "$TEST_DIR/head"
	[ "$(event_names <<<"$output" | tr '\n' ' ')" = "message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop " ] ||
		fail "$output"
	mapfile -t ev < <(events <<<"$output")
	[ "${#ev[@]}" -eq 10 ] || fail "$output"
	# each data payload's type is its event's name
	[ "$(printf '%s\n' "${ev[@]}" | jq -r .type | tr '\n' ' ')" = "$(event_names <<<"$output" | tr '\n' ' ')" ]
	jq -e '.message.role == "assistant" and .message.model == "claude-x" and .message.content == []
		and .message.stop_reason == null and .message.usage.input_tokens == 4
		and .message.usage.cache_read_input_tokens == 6' <<<"${ev[0]}" >/dev/null || fail "${ev[0]}"
	jq -e '.index == 0 and .content_block == {"type":"text","text":""}' <<<"${ev[1]}" >/dev/null
	[ "$(printf '%s\n' "${ev[@]:3:4}" | jq -r .delta.type | sort -u)" = text_delta ]
	[ "$(printf '%s\n' "${ev[@]:3:4}" | jq -j .delta.text)" = "$plain" ]
	jq -e '.delta == {"stop_reason":"end_turn","stop_sequence":null} and .usage.output_tokens == 4' \
		<<<"${ev[8]}" >/dev/null || fail "${ev[8]}"
	[ "${ev[9]}" = '{"type":"message_stop"}' ]
	# max_tokens in a stream
	run post /v1/messages '{"model":"c","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"hi"}]}' "${AH[@]}" -N
	[ "$(event_names <<<"$output" | grep -c content_block_delta)" -eq 1 ]
	events <<<"$output" | jq -se 'map(select(.type == "message_delta"))[0] | .delta.stop_reason == "max_tokens" and .usage.output_tokens == 1' >/dev/null ||
		fail "$output"
}

@test "anthropic: key and version headers, body checks, errors in Anthropic's shape" {
	start_mock --dialect anthropic
	run curl -sS -w '\n%{http_code}' "$URL/v1/messages" -H 'anthropic-version: 2023-06-01' -d "$MSG"
	[ "${lines[1]}" = 401 ] || fail "$output"
	jq -e '.type == "error" and .error.type == "authentication_error" and (.error.message | length > 0)' \
		<<<"${lines[0]}" >/dev/null || fail "$output"
	run curl -sS -w '\n%{http_code}' "$URL/v1/messages" -H 'x-api-key: k' -d "$MSG"
	[ "${lines[1]}" = 400 ] || fail "$output"
	jq -e '.type == "error" and .error.type == "invalid_request_error"' <<<"${lines[0]}" >/dev/null
	for body in '{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}' \
		'{"model":"c","messages":[{"role":"user","content":"x"}]}' \
		'{"model":"c","max_tokens":5}' '{"model":"c","max_tokens":5,"messages":[]}' \
		'{"model":"c","max_tokens":5,"messages":[{"role":"robot","content":"x"}]}' 'nonsense'; do
		run curl -sS -w '\n%{http_code}' "$URL/v1/messages" "${AH[@]}" -d "$body"
		[ "${lines[1]}" = 400 ] || fail "$body: $output"
		[ "$(jq -r .error.type <<<"${lines[0]}")" = invalid_request_error ] || fail "$output"
	done
	stop_mock
	start_mock --dialect anthropic --models claude-a
	run curl -sS -w '\n%{http_code}' "$URL/v1/messages" "${AH[@]}" -d "$MSG"
	[ "${lines[1]}" = 404 ] || fail "$output"
	jq -e '.error.type == "not_found_error" and .error.message == "model: claude-x"' \
		<<<"${lines[0]}" >/dev/null || fail "$output"
	stop_mock
	start_mock --dialect anthropic --error-rate 1
	run curl -sS -w '\n%{http_code}' "$URL/v1/messages" "${AH[@]}" -d "$MSG"
	[ "${lines[1]}" = 500 ] || fail "$output"
	jq -e '.type == "error" and .error.type == "api_error"' <<<"${lines[0]}" >/dev/null || fail "$output"
	stop_mock
	start_mock --dialect anthropic --error-rate 1 --error-status 529
	run curl -sS -w '\n%{http_code}' "$URL/v1/messages" "${AH[@]}" -d "${MSG%\}},\"stream\":true}"
	[ "${lines[1]}" = 529 ] || fail "$output"
	[ "$(jq -r .error.type <<<"${lines[0]}")" = overloaded_error ]
	stop_mock
	start_mock --dialect anthropic --rate-limit-rate 1 --retry-after 2s
	run curl -sS -D "$TEST_DIR/head" -w '\n%{http_code}' "$URL/v1/messages" "${AH[@]}" -d "$MSG"
	[ "${lines[1]}" = 429 ] || fail "$output"
	[ "$(jq -r .error.type <<<"${lines[0]}")" = rate_limit_error ]
	grep -qi $'^retry-after: 2\r$' "$TEST_DIR/head" || fail "$(cat "$TEST_DIR/head")"
}

@test "anthropic tool use: plain and streamed as input_json_delta pieces" {
	start_mock --dialect anthropic
	local tools='"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"other","input_schema":{"type":"object"}}]'
	run post /v1/messages "{\"model\":\"c\",\"max_tokens\":50,$tools,\"messages\":[{\"role\":\"user\",\"content\":\"weather in paris today\"}]}" "${AH[@]}"
	jq -e '.stop_reason == "tool_use" and (.content | length == 1) and .content[0].type == "tool_use"
		and (.content[0].id | startswith("toolu_")) and .content[0].name == "get_weather"
		and .content[0].input == {"query":"weather in paris today"} and .usage.output_tokens == 6' \
		<<<"$output" >/dev/null || fail "$output"
	run post /v1/messages "{\"model\":\"c\",\"max_tokens\":50,$tools,\"tool_choice\":{\"type\":\"tool\",\"name\":\"other\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" "${AH[@]}"
	[ "$(jq -r '.content[0].name' <<<"$output")" = other ] || fail "$output"
	run post /v1/messages "{\"model\":\"c\",\"max_tokens\":50,$tools,\"tool_choice\":{\"type\":\"none\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}" "${AH[@]}"
	[ "$(jq -r '.stop_reason' <<<"$output")" = end_turn ] || fail "$output"
	# after a tool result: text
	run post /v1/messages "{\"model\":\"c\",\"max_tokens\":50,$tools,\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"other\",\"input\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"sunny\"}]}]}" "${AH[@]}"
	jq -e '.stop_reason == "end_turn" and .content[0].type == "text"' <<<"$output" >/dev/null || fail "$output"
	run post /v1/messages "{\"model\":\"c\",\"max_tokens\":50,\"stream\":true,$tools,\"messages\":[{\"role\":\"user\",\"content\":\"weather in paris today\"}]}" "${AH[@]}" -N
	mapfile -t ev < <(events <<<"$output")
	jq -e '.content_block.type == "tool_use" and .content_block.name == "get_weather"
		and .content_block.input == {}' <<<"${ev[1]}" >/dev/null || fail "${ev[1]}"
	local deltas
	deltas=$(printf '%s\n' "${ev[@]}" | jq -c 'select(.type == "content_block_delta") | .delta')
	[ "$(wc -l <<<"$deltas")" -ge 3 ] || fail "$deltas"
	[ "$(jq -r .type <<<"$deltas" | sort -u)" = input_json_delta ]
	[ "$(jq -j .partial_json <<<"$deltas")" = '{"query": "weather in paris today"}' ] || fail "$deltas"
	printf '%s\n' "${ev[@]}" | jq -se 'map(select(.type == "message_delta"))[0] | .delta.stop_reason == "tool_use"' >/dev/null
}

# ------------------------------------------------------------ gemini

GEN='{"systemInstruction":{"parts":[{"text":"Be brief"}]},"contents":[{"role":"user","parts":[{"text":"Tell me a story"}]}]}'

@test "gemini: generateContent shape, usageMetadata, maxOutputTokens, models" {
	start_mock --dialect gemini --tokens 5
	run post "/v1beta/models/gemini-x:generateContent" "$GEN" -H 'x-goog-api-key: k'
	[ "$status" -eq 0 ]
	jq -e '(.candidates | length == 1) and .candidates[0].content.role == "model"
		and (.candidates[0].content.parts | length == 1)
		and (.candidates[0].content.parts[0].text | split(" ") | length == 5)
		and .candidates[0].finishReason == "STOP" and .candidates[0].index == 0
		and .usageMetadata == {"promptTokenCount":6,"candidatesTokenCount":5,"totalTokenCount":11}
		and .modelVersion == "gemini-x" and (.responseId | type == "string")' \
		<<<"$output" >/dev/null || fail "$output"
	# ?key= works as well
	run post "/v1beta/models/gemini-x:generateContent?key=k" '{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":2}}'
	jq -e '.candidates[0].finishReason == "MAX_TOKENS" and .usageMetadata.candidatesTokenCount == 2
		and (.candidates[0].content.parts[0].text | split(" ") | length == 2)' <<<"$output" >/dev/null || fail "$output"
	run curl -sS "$URL/v1beta/models?key=k"
	jq -e '(.models | length > 0) and (.models | all(.name | startswith("models/")))' <<<"$output" >/dev/null || fail "$output"
	run curl -sS "$URL/v1beta/models/gemini-x?key=k"
	jq -e '.name == "models/gemini-x" and (.supportedGenerationMethods | index("generateContent"))' \
		<<<"$output" >/dev/null || fail "$output"
}

@test "gemini stream: alt=sse, one event per token, finishReason and usage on the last, no [DONE]" {
	start_mock --dialect gemini --tokens 4
	local plain
	plain=$(post "/v1beta/models/g:generateContent?key=k" "$GEN" | jq -r '.candidates[0].content.parts[0].text')
	run post "/v1beta/models/g:streamGenerateContent?alt=sse&key=k" "$GEN" -N -D "$TEST_DIR/head"
	grep -qi '^content-type: text/event-stream' "$TEST_DIR/head"
	mapfile -t ev < <(tr -d '\r' <<<"$output" | events)
	[ "${#ev[@]}" -eq 4 ] || fail "$output"
	[[ "$output" != *"[DONE]"* ]] || fail "$output"
	[ "$(printf '%s\n' "${ev[@]}" | jq -j '.candidates[0].content.parts[0].text')" = "$plain" ]
	for i in 0 1 2; do
		jq -e '(.candidates[0] | has("finishReason") | not) and .usageMetadata.promptTokenCount == 6' \
			<<<"${ev[$i]}" >/dev/null || fail "${ev[$i]}"
	done
	jq -e '.candidates[0].finishReason == "STOP"
		and .usageMetadata == {"promptTokenCount":6,"candidatesTokenCount":4,"totalTokenCount":10}' \
		<<<"${ev[3]}" >/dev/null || fail "${ev[3]}"
	# without alt=sse: refused in Gemini's shape
	run curl -sS -w '\n%{http_code}' "$URL/v1beta/models/g:streamGenerateContent?key=k" -d "$GEN"
	[ "${lines[1]}" = 400 ] || fail "$output"
	jq -e '.error.code == 400 and .error.status == "INVALID_ARGUMENT" and (.error.message | test("alt=sse"))' \
		<<<"${lines[0]}" >/dev/null || fail "$output"
	# maxOutputTokens in a stream
	run post "/v1beta/models/g:streamGenerateContent?alt=sse&key=k" '{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":1}}' -N
	mapfile -t ev < <(tr -d '\r' <<<"$output" | events)
	[ "${#ev[@]}" -eq 1 ] || fail "$output"
	[ "$(jq -r '.candidates[0].finishReason' <<<"${ev[0]}")" = MAX_TOKENS ]
}

@test "gemini: key required (403), errors in Gemini's shape, unknown models" {
	start_mock --dialect gemini --models gemini-a
	run curl -sS -w '\n%{http_code}' "$URL/v1beta/models/gemini-a:generateContent" -d "$GEN"
	[ "${lines[1]}" = 403 ] || fail "$output"
	jq -e '.error.code == 403 and .error.status == "PERMISSION_DENIED" and (.error.message | length > 0)' \
		<<<"${lines[0]}" >/dev/null || fail "$output"
	run curl -sS -w '\n%{http_code}' "$URL/v1beta/models/gemini-b:generateContent?key=k" -d "$GEN"
	[ "${lines[1]}" = 404 ] || fail "$output"
	jq -e '.error.status == "NOT_FOUND" and (.error.message | startswith("models/gemini-b is not found"))' \
		<<<"${lines[0]}" >/dev/null || fail "$output"
	run curl -sS -w '\n%{http_code}' "$URL/v1beta/models/gemini-a:generateContent?key=k" -d '{"contents":[]}'
	[ "${lines[1]}" = 400 ] || fail "$output"
	[ "$(jq -r .error.status <<<"${lines[0]}")" = INVALID_ARGUMENT ]
	[ "$(status_of "/v1beta/models/gemini-a:nothing?key=k" "$GEN")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1beta/models/gemini-a?key=k")" = 200 ]
	run curl -sS -w '\n%{http_code}' "$URL/v1beta/models/gemini-b?key=k"
	[ "${lines[1]}" = 404 ] || fail "$output"
	[ "$(jq -r .error.status <<<"${lines[0]}")" = NOT_FOUND ]
	stop_mock
	start_mock --dialect gemini --error-rate 1 --error-status 503
	run curl -sS -w '\n%{http_code}' "$URL/v1beta/models/g:streamGenerateContent?alt=sse&key=k" -d "$GEN"
	[ "${lines[1]}" = 503 ] || fail "$output"
	jq -e '.error.code == 503 and .error.status == "UNAVAILABLE"' <<<"${lines[0]}" >/dev/null || fail "$output"
	stop_mock
	start_mock --dialect gemini --error-rate 1
	run curl -sS -w '\n%{http_code}' "$URL/v1beta/models/g:generateContent?key=k" -d "$GEN"
	[ "${lines[1]}" = 500 ] || fail "$output"
	[ "$(jq -r .error.status <<<"${lines[0]}")" = INTERNAL ]
	stop_mock
	start_mock --dialect gemini --rate-limit-rate 1
	run curl -sS -D "$TEST_DIR/head" -w '\n%{http_code}' "$URL/v1beta/models/g:generateContent?key=k" -d "$GEN"
	[ "${lines[1]}" = 429 ] || fail "$output"
	[ "$(jq -r .error.status <<<"${lines[0]}")" = RESOURCE_EXHAUSTED ]
	grep -qi '^retry-after: 1' "$TEST_DIR/head"
}

@test "gemini: functionCall plain and streamed in one piece; embeddings" {
	start_mock --dialect gemini
	local tools='"tools":[{"functionDeclarations":[{"name":"lookup"},{"name":"other"}]}]'
	run post "/v1beta/models/g:generateContent?key=k" "{$tools,\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"weather in paris\"}]}]}"
	jq -e '.candidates[0].content.parts == [{"functionCall":{"name":"lookup","args":{"query":"weather in paris"}}}]
		and .candidates[0].finishReason == "STOP"' <<<"$output" >/dev/null || fail "$output"
	run post "/v1beta/models/g:generateContent?key=k" "{$tools,\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"other\"]}},\"contents\":[{\"parts\":[{\"text\":\"x\"}]}]}"
	[ "$(jq -r '.candidates[0].content.parts[0].functionCall.name' <<<"$output")" = other ] || fail "$output"
	run post "/v1beta/models/g:generateContent?key=k" "{$tools,\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"NONE\"}},\"contents\":[{\"parts\":[{\"text\":\"x\"}]}]}"
	jq -e '.candidates[0].content.parts[0] | has("text")' <<<"$output" >/dev/null || fail "$output"
	# after a functionResponse: text
	run post "/v1beta/models/g:generateContent?key=k" "{$tools,\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"lookup\",\"args\":{}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"lookup\",\"response\":{\"r\":1}}}]}]}"
	jq -e '.candidates[0].content.parts[0] | has("text")' <<<"$output" >/dev/null || fail "$output"
	run post "/v1beta/models/g:streamGenerateContent?alt=sse&key=k" "{$tools,\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"weather in paris\"}]}]}" -N
	mapfile -t ev < <(tr -d '\r' <<<"$output" | events)
	[ "${#ev[@]}" -eq 1 ] || fail "$output"
	jq -e '.candidates[0].content.parts[0].functionCall == {"name":"lookup","args":{"query":"weather in paris"}}
		and .candidates[0].finishReason == "STOP"' <<<"${ev[0]}" >/dev/null || fail "${ev[0]}"
	# embeddings: the same vectors as /v1/embeddings would give
	run post "/v1beta/models/text-embedding-004:embedContent?key=k" '{"content":{"parts":[{"text":"hello world"}]}}'
	jq -e '(.embedding.values | length == 8) and ((.embedding.values | map(. * .) | add) - 1 | fabs < 0.0001)' \
		<<<"$output" >/dev/null || fail "$output"
	local v1
	v1=$(jq -c .embedding.values <<<"$output")
	run post "/v1beta/models/text-embedding-004:batchEmbedContents?key=k" '{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello world"}]}},{"model":"models/text-embedding-004","content":{"parts":[{"text":"other"}]},"outputDimensionality":3}]}'
	jq -e '(.embeddings | length == 2) and (.embeddings[1].values | length == 3)' <<<"$output" >/dev/null || fail "$output"
	[ "$(jq -c '.embeddings[0].values' <<<"$output")" = "$v1" ]
	[ "$(status_of "/v1beta/models/e:embedContent?key=k" '{"content":{"parts":[{"text":"x"}]},"outputDimensionality":0}')" = 400 ]
}

# ------------------------------------------------------------ ollama

OCHAT='{"model":"llama3.2","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Tell me a story"}]}'

@test "ollama chat: NDJSON stream by default, one line per token, the done line" {
	start_mock --dialect ollama --tokens 4
	run post /api/chat "$OCHAT" -N -D "$TEST_DIR/head"
	grep -qi '^content-type: application/x-ndjson' "$TEST_DIR/head"
	[ "${#lines[@]}" -eq 5 ] || fail "$output"
	for i in 0 1 2 3; do
		jq -e '.model == "llama3.2" and (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))
			and .message.role == "assistant" and (.message.content | length > 0) and .done == false' \
			<<<"${lines[$i]}" >/dev/null || fail "${lines[$i]}"
	done
	jq -e '.message == {"role":"assistant","content":""} and .done == true and .done_reason == "stop"
		and .prompt_eval_count == 6 and .eval_count == 4
		and (.total_duration | type == "number") and (.load_duration | type == "number")
		and (.prompt_eval_duration | type == "number") and (.eval_duration | type == "number")' \
		<<<"${lines[4]}" >/dev/null || fail "${lines[4]}"
	local streamed
	streamed=$(printf '%s\n' "${lines[@]:0:4}" | jq -j .message.content)
	# "stream": false: one object, the same text
	run post /api/chat "${OCHAT%\}},\"stream\":false}"
	jq -e '.done == true and .done_reason == "stop" and .eval_count == 4 and .prompt_eval_count == 6' \
		<<<"$output" >/dev/null || fail "$output"
	[ "$(jq -r .message.content <<<"$output")" = "$streamed" ]
	# num_predict caps: done_reason length
	run post /api/chat '{"model":"m","stream":false,"options":{"num_predict":2},"messages":[{"role":"user","content":"hi"}]}'
	jq -e '.done_reason == "length" and .eval_count == 2 and (.message.content | split(" ") | length == 2)' \
		<<<"$output" >/dev/null || fail "$output"
	run post /api/chat '{"model":"m","options":{"num_predict":1},"messages":[{"role":"user","content":"hi"}]}'
	[ "${#lines[@]}" -eq 2 ] || fail "$output"
	[ "$(jq -r .done_reason <<<"${lines[1]}")" = length ]
}

@test "ollama generate, embed, tags; errors as {\"error\":...}" {
	start_mock --dialect ollama --tokens 3 --models llama3.2,nomic-embed-text
	run post /api/generate '{"model":"llama3.2","prompt":"Why is the sky blue?"}'
	[ "${#lines[@]}" -eq 4 ] || fail "$output"
	jq -e '(.response | length > 0) and .done == false' <<<"${lines[0]}" >/dev/null || fail "$output"
	jq -e '.response == "" and .done == true and .done_reason == "stop" and .prompt_eval_count == 5
		and .eval_count == 3' <<<"${lines[3]}" >/dev/null || fail "$output"
	run post /api/generate '{"model":"llama3.2","prompt":"Why is the sky blue?","stream":false}'
	jq -e '(.response | split(" ") | length == 3) and .done == true and .eval_count == 3' \
		<<<"$output" >/dev/null || fail "$output"
	run post /api/embed '{"model":"nomic-embed-text","input":["hello world","x"],"dimensions":4}'
	jq -e '.model == "nomic-embed-text" and (.embeddings | length == 2)
		and (.embeddings | map(length) == [4, 4]) and .prompt_eval_count == 3' \
		<<<"$output" >/dev/null || fail "$output"
	run curl -sS "$URL/api/tags"
	jq -e '[.models[].name] == ["llama3.2","nomic-embed-text"] and (.models | all(.details.format == "gguf"))' \
		<<<"$output" >/dev/null || fail "$output"
	run curl -sS -w '\n%{http_code}' "$URL/api/chat" -d '{"model":"mistral","messages":[{"role":"user","content":"x"}]}'
	[ "${lines[1]}" = 404 ] || fail "$output"
	[ "${lines[0]}" = '{"error":"model \"mistral\" not found, try pulling it first"}' ] || fail "$output"
	run curl -sS -w '\n%{http_code}' "$URL/api/chat" -d '{"messages":[]}'
	[ "${lines[1]}" = 400 ] || fail "$output"
	jq -e '.error | type == "string"' <<<"${lines[0]}" >/dev/null
	stop_mock
	start_mock --dialect ollama --error-rate 1 --error-status 503
	run curl -sS -w '\n%{http_code}' "$URL/api/chat" -d "$OCHAT"
	[ "${lines[1]}" = 503 ] || fail "$output"
	jq -e '(keys == ["error"]) and (.error | type == "string")' <<<"${lines[0]}" >/dev/null || fail "$output"
}

@test "ollama tool calls: message.tool_calls with object arguments, streamed in one line" {
	start_mock --dialect ollama
	local tools='"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]'
	run post /api/chat "{\"model\":\"m\",\"stream\":false,$tools,\"messages\":[{\"role\":\"user\",\"content\":\"weather in paris\"}]}"
	jq -e '.message.content == "" and .message.tool_calls == [{"function":{"name":"get_weather","arguments":{"query":"weather in paris"}}}]
		and .done == true and .done_reason == "stop"' <<<"$output" >/dev/null || fail "$output"
	run post /api/chat "{\"model\":\"m\",$tools,\"messages\":[{\"role\":\"user\",\"content\":\"weather in paris\"}]}"
	[ "${#lines[@]}" -eq 2 ] || fail "$output"
	jq -e '.done == false and .message.tool_calls[0].function.arguments == {"query":"weather in paris"}' \
		<<<"${lines[0]}" >/dev/null || fail "$output"
	jq -e '.done == true and .done_reason == "stop"' <<<"${lines[1]}" >/dev/null || fail "$output"
	# after the tool's answer: text
	run post /api/chat "{\"model\":\"m\",\"stream\":false,$tools,\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"content\":\"sunny\"}]}"
	jq -e '(.message | has("tool_calls") | not) and (.message.content | length > 0)' <<<"$output" >/dev/null || fail "$output"
}

# ------------------------------------------------------------ azure

AZ=/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21

@test "azure: OpenAI's answers with the deployment as model; api-version and key" {
	start_mock --dialect azure --tokens 3
	run post "$AZ" "$CHAT" -H 'api-key: k'
	jq -e '.object == "chat.completion" and .model == "my-gpt" and .choices[0].finish_reason == "stop"
		and (.choices[0].message.content | split(" ") | length == 3)
		and .usage == {"prompt_tokens":6,"completion_tokens":3,"total_tokens":9}' \
		<<<"$output" >/dev/null || fail "$output"
	# a bearer token does too; the body's model does not matter
	[ "$(post "$AZ" '{"messages":[{"role":"user","content":"x"}]}' -H 'Authorization: Bearer t' | jq -r .model)" = my-gpt ]
	run curl -sS -w '\n%{http_code}' "$URL/openai/deployments/my-gpt/chat/completions" -H 'api-key: k' -d "$CHAT"
	[ "${lines[1]}" = 404 ] || fail "$output"
	[ "${lines[0]}" = '{"error":{"code":"404","message":"Resource not found"}}' ] || fail "$output"
	run curl -sS -w '\n%{http_code}' "$URL$AZ" -d "$CHAT"
	[ "${lines[1]}" = 401 ] || fail "$output"
	jq -e '.error.code == "401" and (.error.message | startswith("Access denied"))' <<<"${lines[0]}" >/dev/null || fail "$output"
	# max_tokens: length
	run post "$AZ" '{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}' -H 'api-key: k'
	[ "$(jq -r '.choices[0].finish_reason' <<<"$output")" = length ] || fail "$output"
	# completions and embeddings
	run post "/openai/deployments/inst/completions?api-version=2024-10-21" '{"prompt":"a b"}' -H 'api-key: k'
	jq -e '.object == "text_completion" and .model == "inst"' <<<"$output" >/dev/null || fail "$output"
	run post "/openai/deployments/emb/embeddings?api-version=2024-10-21" '{"input":"hello world","dimensions":3}' -H 'api-key: k'
	jq -e '.model == "emb" and (.data[0].embedding | length == 3)' <<<"$output" >/dev/null || fail "$output"
	run curl -sS -w '\n%{http_code}' "$URL/v1/chat/completions" -d "$CHAT"
	[ "${lines[1]}" = 404 ] || fail "$output"
	[ "${lines[0]}" = '{"error":{"code":"404","message":"Resource not found"}}' ] || fail "$output"
}

@test "azure: streams with include_usage, tool calls, errors and 429" {
	start_mock --dialect azure --tokens 3 --models my-gpt
	run post "$AZ" "{\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}]}" -H 'api-key: k' -N
	mapfile -t ev < <(events <<<"$output")
	[ "${#ev[@]}" -eq 7 ] || fail "$output"
	jq -e '.model == "my-gpt" and .usage == null' <<<"${ev[0]}" >/dev/null || fail "$output"
	jq -e '.choices == [] and .usage.completion_tokens == 3' <<<"${ev[5]}" >/dev/null || fail "$output"
	[ "${ev[6]}" = "[DONE]" ]
	run post "$AZ" "{\"stream\":true,$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"weather in paris\"}]}" -H 'api-key: k' -N
	mapfile -t ev < <(events <<<"$output")
	[ "$(printf '%s\n' "${ev[@]:1:5}" | jq -j '.choices[0].delta.tool_calls[0].function.arguments')" = '{"query": "weather in paris"}' ] ||
		fail "$output"
	[ "$(jq -r '.choices[0].finish_reason' <<<"${ev[6]}")" = tool_calls ]
	run curl -sS -w '\n%{http_code}' "$URL/openai/deployments/other/chat/completions?api-version=1" -H 'api-key: k' -d "$CHAT"
	[ "${lines[1]}" = 404 ] || fail "$output"
	[ "$(jq -r .error.code <<<"${lines[0]}")" = DeploymentNotFound ]
	stop_mock
	start_mock --dialect azure --error-rate 1
	run curl -sS -w '\n%{http_code}' "$URL$AZ" -H 'api-key: k' -d "$CHAT"
	[ "${lines[1]}" = 500 ] || fail "$output"
	jq -e '.error.type == "server_error" and .error.code == "mock_error"' <<<"${lines[0]}" >/dev/null || fail "$output"
	stop_mock
	start_mock --dialect azure --rate-limit-rate 1
	run curl -sS -D "$TEST_DIR/head" -w '\n%{http_code}' "$URL$AZ" -H 'api-key: k' -d "$CHAT"
	[ "${lines[1]}" = 429 ] || fail "$output"
	[ "$(jq -r .error.code <<<"${lines[0]}")" = 429 ] || fail "$output"
	grep -q $'^Retry-After: 1\r$' "$TEST_DIR/head"
}

@test "dialects pace streams like openai: --ttft and --tokens-per-sec" {
	start_mock --dialect anthropic --tokens 3 --ttft 200ms --tokens-per-sec 10
	local t0 t
	t0=$(date +%s%N)
	post /v1/messages '{"model":"c","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"x"}]}' "${AH[@]}" -N >/dev/null
	t=$((($(date +%s%N) - t0) / 1000000))
	[ "$t" -ge 395 ] || fail "took $t ms" # 200 ms + 2 gaps of 100 ms
	stop_mock
	start_mock --dialect ollama --tokens 3 --ttft 200ms --tokens-per-sec 10
	t0=$(date +%s%N)
	post /api/chat '{"model":"m","messages":[{"role":"user","content":"x"}]}' -N >/dev/null
	t=$((($(date +%s%N) - t0) / 1000000))
	[ "$t" -ge 395 ] || fail "took $t ms"
	stop_mock
	start_mock --dialect gemini --tokens 3 --latency 300ms
	t0=$(date +%s%N)
	post "/v1beta/models/g:generateContent?key=k" "$GEN" >/dev/null
	t=$((($(date +%s%N) - t0) / 1000000))
	[ "$t" -ge 295 ] || fail "took $t ms"
}

@test "man aigw-mock(1): EXAMPLES run as written" {
	"$BATS_TEST_DIRNAME/../scripts/man-examples.sh" "$BATS_TEST_DIRNAME/../man/aigw-mock.1"
}

@test "--slow: a slow spell multiplies the latency for its time, then ends" {
	start_mock --latency 20ms --slow 0s:1s:10
	t=$(curl -s -o /dev/null -w '%{time_total}' "$URL/v1/chat/completions" -d "$CHAT")
	awk -v t="$t" 'BEGIN { exit !(t >= 0.18) }' || fail "in the spell: $t s"
	sleep 1.1
	t=$(curl -s -o /dev/null -w '%{time_total}' "$URL/v1/chat/completions" -d "$CHAT")
	awk -v t="$t" 'BEGIN { exit !(t < 0.15) }' || fail "after the spell: $t s"
	for bad in 1s:1s 1s:1s:0 x:1s:2 1s:1s:2x 1s:1s:1001; do
		run_aigw mock --slow "$bad"
		assert_status 2
		assert_stderr_match "--slow: '$bad' is not AT:FOR:FACTOR"
	done
}
