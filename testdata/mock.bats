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
	# make a line arrive (or be timed) later, never earlier.
	[ "$role" -lt 150 ] || fail "role at $role ms: $output"
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

@test "man aigw-mock(1): EXAMPLES run as written" {
	"$BATS_TEST_DIRNAME/../scripts/man-examples.sh" "$BATS_TEST_DIRNAME/../man/aigw-mock.1"
}
