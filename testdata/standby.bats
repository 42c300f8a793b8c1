#!/usr/bin/env bats
# Standby nodes switched on by the load forecast (aigw.yaml standby:):
# light traffic stays on the active node, a burst above the configured
# capacity brings the standby node in (logged, counted), and a quiet
# period sends it back; SIGHUP applies new settings. Bad standby settings
# are refused.
bats_require_minimum_version 1.5.0
load helpers
load gateway_helpers

CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'

# Nodes a (active) and b (--standby) on route chat, serve with $1 as its
# aigw.yaml.
active_and_standby() {
	start_mock
	aigw nodes add a --url "$MOCK_URL" --provider openai -q >/dev/null
	start_mock
	aigw nodes add b --url "$MOCK_URL" --provider openai --standby -q >/dev/null
	aigw route add chat --path /v1 --nodes a,b -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	printf '%s\n' "$1" >"$TEST_DIR/aigw.yaml"
	start_serve --config "$TEST_DIR/aigw.yaml"
}

@test "standby: a burst over capacity brings the standby node in, quiet sends it back" {
	active_and_standby 'standby:
  threshold: 0.8
  capacity: 5
  quiet: 2s
  horizon: 1s'
	# about 2 requests/s: utilisation ~0.4, all on a
	for i in 1 2 3 4 5; do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
		sleep 0.4
	done
	eventually 2000 code_is 5 log_rows "node = 'a'"
	[ "$(log_rows "node = 'b'")" = 0 ]
	! grep -q 'standby nodes on' "$TEST_DIR/serve.err"
	[ "$(metric 'aigw_standby_active{route="chat"}')" = 0 ]

	# 40 requests/s for 3 s: far above 4 (0.8 of 5)
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -H "$AUTH" --rate 40 -d 3s --json
	assert_ok
	jq -e '.requests > 80' <<<"$output" >/dev/null || fail "$output"
	grep -Eq 'info: route chat: standby nodes on \(forecast [0-9.]+ req/s, utilisation [0-9.]+ > 0\.80\)' \
		"$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
	eventually 2000 code_is 0 log_rows "status <> 200"
	[ "$(log_rows "node = 'b'")" -gt 10 ] || fail "b served $(log_rows "node = 'b'")"
	[ "$(metric 'aigw_standby_changes_total{route="chat",to="on"}')" = 1 ]

	# quiet: off after 2 s below the threshold, and b idle again
	eventually 6000 grep -q 'info: route chat: standby nodes off after [0-9]* s quiet' "$TEST_DIR/serve.err"
	[ "$(metric 'aigw_standby_active{route="chat"}')" = 0 ]
	[ "$(metric 'aigw_standby_changes_total{route="chat",to="off"}')" = 1 ]
	b=$(log_rows "node = 'b'")
	for i in 1 2 3; do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	sleep 0.3
	[ "$(log_rows "node = 'b'")" = "$b" ]
	[ "$(grep -c 'standby nodes on' "$TEST_DIR/serve.err")" = 1 ]
}

@test "standby: with the default capacity the same burst stays on the active node" {
	active_and_standby 'log_level: info'
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -H "$AUTH" --rate 40 -d 2s --json
	assert_ok
	eventually 2000 code_is 0 log_rows "status <> 200"
	[ "$(log_rows "node = 'b'")" = 0 ]
	! grep -q 'standby nodes' "$TEST_DIR/serve.err"
	[ "$(metric 'aigw_standby_changes_total{route="chat",to="on"}')" = 0 ]
}

@test "standby: SIGHUP applies new settings" {
	active_and_standby 'log_level: info'
	printf 'standby:\n  capacity: 5\n  quiet: 1s\n  horizon: 1s\n' >"$TEST_DIR/aigw.yaml"
	kill -HUP "$SERVE_PID"
	eventually 2000 grep -q 'configuration reloaded from' "$TEST_DIR/serve.err"
	run_aigw bench "$URL/v1/chat/completions" --body "$CHAT" -H "$AUTH" --rate 40 -d 2s --json
	assert_ok
	grep -q 'route chat: standby nodes on' "$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
	eventually 2000 code_is 0 log_rows "status <> 200"
	[ "$(log_rows "node = 'b'")" -gt 0 ]
}

@test "standby: the fallback stays: a standby node serves when no active node can" {
	start_mock
	aigw nodes add a --url "$MOCK_URL" --provider openai -q >/dev/null
	aigw nodes add b --url "$MOCK_URL" --provider openai --standby -q >/dev/null
	aigw nodes disable a >/dev/null
	aigw route add chat --path /v1 --nodes a,b -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	start_serve
	chat gpt-4o -H "Authorization: Bearer $KEY"
	[ "$CODE" = 200 ] || fail "$CODE $BODY"
	eventually 2000 code_is 1 log_rows "node = 'b'"
}

@test "standby: a standby node serves when every active one is refused by its breaker" {
	aigw nodes add a --url http://127.0.0.1:1 --provider openai -q >/dev/null
	start_mock
	aigw nodes add b --url "$MOCK_URL" --provider openai --standby -q >/dev/null
	aigw route add chat --path /v1 --nodes a,b --retries 1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	printf 'breaker_failures: 1\nbreaker_open: 60s\n' >"$TEST_DIR/aigw.yaml"
	start_serve --config "$TEST_DIR/aigw.yaml"
	# the first request fails on a (refused connection), opens its
	# breaker and is retried on b; the later ones never reach a
	for i in 1 2 3; do
		chat gpt-4o -H "Authorization: Bearer $KEY"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	grep -q 'node a: circuit open' "$TEST_DIR/serve.err" || fail "$(cat "$TEST_DIR/serve.err")"
	eventually 2000 code_is 3 log_rows "node = 'b'"
}

@test "standby: bad settings are refused with a clear message" {
	local y
	while IFS='|' read -r y msg; do
		printf '%s\n' "$y" >"$TEST_DIR/bad.yaml"
		run_aigw serve --config "$TEST_DIR/bad.yaml" --listen 127.0.0.1:0
		assert_status 4
		[[ $stderr == *"$msg"* ]] || fail "$y: $stderr"
	done <<'EOF2'
standby: {threshold: 0}|standby: threshold must be a utilisation above 0
standby: {capacity: 0}|standby: capacity must be a rate above 0 requests/s
standby: {alpha: 0}|standby: alpha must be in (0, 1]
standby: {alpha: 2}|standby.alpha: 2 is out of range (0..1)
standby: {beta: -0.5}|standby.beta: -0.5 is out of range (0..1)
standby: {capacity: lots}|standby.capacity: 'lots' is not a number
standby: {quiet: soon}|standby.quiet: 'soon' is not a duration
standby: {thresold: 1}|standby.thresold: unknown directive 'thresold' (did you mean 'threshold'?)
standby: 5|standby: expected a mapping of standby settings, got a scalar
EOF2
}
