#!/usr/bin/env bats
# Live state: a running serve publishes what it knows of each node
# (node_live); `aigw nodes list` and `aigw route test` show it.
bats_require_minimum_version 1.5.0
load helpers
load gateway_helpers

two_nodes() {
	start_mock
	aigw nodes add a --url "$MOCK_URL" --provider openai -q >/dev/null
	start_mock
	aigw nodes add b --url "$MOCK_URL" --provider openai -q >/dev/null
	aigw route add chat --path /v1 --nodes a,b "$@" -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
}

# live_ok: both nodes live, closed, nothing in flight, measured, shares ~1.
live_ok() {
	local j
	j=$(aigw nodes list --json) || return 1
	jq -s -e 'length == 2 and all(.[]; .live.state == "closed" and .live.in_flight == 0
		and .live.latency_ms > 0 and .live.share > 0)
		and ((map(.live.share) | add) - 1 | fabs) < 0.01' <<<"$j" >/dev/null || {
		echo "$j"
		return 1
	}
}

node_state_is() { # NODE STATE...: the node's live state is one of STATE
	local s
	s=$(aigw nodes show "$1" --json | jq -r '.live.state // "none"')
	shift
	for want in "$@"; do [ "$s" = "$want" ] && return 0; done
	echo "state $s"
	return 1
}

no_live() {
	aigw nodes list --json | jq -s -e 'all(.[]; has("live") | not)' >/dev/null
}

@test "live: nodes list shows the state serve publishes, and route test explains the pick" {
	two_nodes --retries 1
	# before any traffic: no live field until serve publishes
	for i in 1 2 3 4 5 6; do
		chat gpt-4o -H "$AUTH"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
	eventually 5000 live_ok
	run -0 aigw nodes list
	[[ ${lines[0]} == *HEALTH*INFLIGHT*LATENCY*SHARE* ]] || fail "$output"
	[[ ${lines[1]} == *closed* ]] || fail "$output"
	run -0 aigw nodes list -q
	[ "$output" = "$(printf 'a\nb')" ] || fail "$output"

	run -0 aigw route test POST /v1/chat/completions --json
	jq -e '.live == true and (.pick | IN("a", "b")) and (.candidates | length == 2)
		and all(.candidates[]; .eligible and (.score | type == "number")
			and .live.state == "closed")
		and ([.candidates[] | select(.picked)] | length == 1)' <<<"$output" >/dev/null || fail "$output"
	run -0 aigw route test POST /v1/chat/completions
	echo "$output" >"$TEST_DIR/route-test.txt"
	[[ $output == *"pick       "[ab]* ]] || fail "$output"
	[[ $output == *"score "*"<- picked"* ]] || fail "$output"

	# node a goes away: its failures open its breaker (or eject it)
	kill "${MOCK_PIDS[0]}"
	wait "${MOCK_PIDS[0]}" 2>/dev/null || true
	for i in $(seq 1 12); do chat gpt-4o -H "$AUTH"; done
	eventually 5000 node_state_is a open ejected
	node_state_is b closed
	run -0 aigw route test POST /v1/chat/completions --json
	jq -e '.pick == "b" and ([.candidates[] | select(.node == "a")][0]
		| (.eligible | not) and (.reason | test("breaker open|ejected")) and .score == null)' \
		<<<"$output" >/dev/null || fail "$output"
	run -0 aigw route test POST /v1/chat/completions
	[[ $output == *"a"*"not eligible: "* ]] || fail "$output"

	# a stopped serve leaves no live state behind
	stop_serve
	no_live
	run -0 aigw nodes list
	[[ ${lines[0]} != *HEALTH* ]] || fail "$output"
	run -0 aigw route test POST /v1/chat/completions
	[[ $output == *"no live state (serve not running?)"* ]] || fail "$output"
	[[ $output == *"pick       a"* ]] || fail "$output"
	[ "$(sqlite3 "$AIGW_DB" 'select count(*) from node_live')" = 0 ]
}

@test "live: state older than a few seconds is not shown" {
	aigw nodes add a --url http://127.0.0.1:9/v1 --provider openai -q >/dev/null
	sqlite3 "$AIGW_DB" "insert into node_live (node, updated_ms, pid, state, in_flight, picks, share)
		values ('a', $(( $(now_ms) - 60000 )), 1, 'open', 0, 0, 0)"
	no_live
	run -0 aigw nodes show a
	[[ $output != *health* ]] || fail "$output"
	sqlite3 "$AIGW_DB" "update node_live set updated_ms = $(now_ms)"
	run -0 aigw nodes show a --json
	[ "$(jq -r .live.state <<<"$output")" = open ] || fail "$output"
	run -0 aigw nodes show a
	[[ $output == *health*open* ]] || fail "$output"
}

@test "live: a schema 6 database is brought forward and lists its nodes" {
	aigw nodes add a --url http://127.0.0.1:9/v1 --provider openai -q >/dev/null
	sqlite3 "$AIGW_DB" "drop table node_live; pragma user_version = 6"
	run -0 --separate-stderr aigw nodes list --json
	[ "$(jq -r .name <<<"$output")" = a ] || fail "$output"
	[[ $stderr == *"upgraded to schema version 7"* ]] || fail "$stderr"
	[ "$(sqlite3 "$AIGW_DB" 'pragma user_version')" = 7 ]
}
