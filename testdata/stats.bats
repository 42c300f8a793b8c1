#!/usr/bin/env bats
# aigw stats: summary, top, timeseries, tail, prune over a request log,
# end to end. The log here is raw rows put in with sqlite3, so every window
# stays inside one minute (the partial-minute path reads raw rows); the
# rollup path, with rollups written by the real writer, is lib/stats_test.c.
bats_require_minimum_version 1.5.0
load helpers

# 2026-11-23T01:45:00Z
NOW=1795398300
NOW_MS=$((NOW * 1000))

setup() {
	aigw_setup
	export AIGW_NOW=$NOW
}

# An aigw database (made by a command that writes one), then the rows
# (ids 1..5 from the bottom up, as a log grows):
#   ts           key     route  node  model   status latency ttfb  in  out  cost   error
#   -10s         ci (1)  chat   n1    gpt-4o  200    1200    300   10  20   1500
#   -20s         ci (1)  chat   n2    gpt-4o  502    5000    -     -   -    -      upstream_timeout
#   -30s         -       embed  n1    mock-1  200    800     100   5   0    -
#   -40s         ops (2) chat   n1    gpt-4o  429    150     -     -   -    -
#   -40 days     ci (1)  chat   n1    gpt-4o  200    1000    200   1   1    10
make_log() {
	aigw keys create --name ci -q >/dev/null
	sql "insert into request_log (ts_ms, request_id, key_id, key_name, route, node, model,
		status, latency_us, ttfb_us, prompt_tokens, completion_tokens, cost_micro, error) values
		($NOW_MS - 40 * 86400000, 'old', 1, 'ci', 'chat', 'n1', 'gpt-4o', 200, 1000, 200, 1, 1, 10, NULL),
		($NOW_MS - 40000, 'd', 2, 'ops', 'chat', 'n1', 'gpt-4o', 429, 150, NULL, NULL, NULL, NULL, NULL),
		($NOW_MS - 30000, 'c', NULL, NULL, 'embed', 'n1', 'mock-1', 200, 800, 100, 5, 0, NULL, NULL),
		($NOW_MS - 20000, 'b', 1, 'ci', 'chat', 'n2', 'gpt-4o', 502, 5000, NULL, NULL, NULL, NULL, 'upstream_timeout'),
		($NOW_MS - 10000, 'a', 1, 'ci', 'chat', 'n1', 'gpt-4o', 200, 1200, 300, 10, 20, 1500, NULL)"
}

# csv_columns: every line of stdout has the header's number of columns.
assert_csv() {
	local want
	want=$(head -1 <<<"$output" | awk -F, '{ print NF }')
	[ "$want" -gt 1 ] || fail "no header: $output"
	awk -F, -v n="$want" 'NF != n { exit 1 }' <<<"$output" || fail "ragged CSV: $output"
}

@test "summary: the totals of the window, for people" {
	make_log
	run_aigw stats summary --since 55s
	assert_ok
	assert_stdout "window         2026-11-23T01:44:05Z .. 2026-11-23T01:45:00Z
requests       4
errors         2 (50.0%)
latency        p50 800us  p95 4.86ms  p99 4.86ms
ttft           p50 100us  p95 304us  p99 304us
tokens         in 15  out 20
cost           \$0.0015 (1 of 4 requests priced)"
}

@test "summary --json: one document, numbers as numbers, unknown cost is null" {
	make_log
	run_aigw stats summary --since 55s --json
	assert_ok
	assert_lines 1 "$output"
	jq -e '.since == "2026-11-23T01:44:05Z" and .until == "2026-11-23T01:45:00Z"
		and .by == null and .groups == []
		and .total.requests == 4 and .total.errors == 2 and .total.error_rate == 0.5
		and .total.latency_us.p50 == 800 and .total.latency_us.p99 == 4864
		and .total.latency_us.mean == 1787
		and .total.ttft_us.p50 == 100 and .total.ttft_us.mean == 200
		and .total.tokens_in == 15 and .total.tokens_out == 20
		and .total.cost_usd == 0.0015 and .total.priced == 1' <<<"$output" >/dev/null ||
		fail "$output"
}

@test "summary --by: each column, with exact counts" {
	make_log
	run_aigw stats summary --since 55s --by route --json
	assert_ok
	jq -e '.by == "route" and ([.groups[] | [.name, .requests, .errors]] ==
		[["chat", 3, 2], ["embed", 1, 0]]) and .total.requests == 4' <<<"$output" >/dev/null ||
		fail "$output"
	# cost: known for chat (one of three priced), unknown for embed
	jq -e '.groups[0].cost_usd == 0.0015 and .groups[0].priced == 1
		and .groups[1].cost_usd == null and .groups[1].priced == 0' <<<"$output" >/dev/null

	run_aigw stats summary --since 55s --by key --json
	assert_ok
	jq -e '[.groups[] | [.name, .key_id, .requests]] == [["ci", 1, 2], ["ops", 2, 1], [null, null, 1]]' \
		<<<"$output" >/dev/null || fail "$output"

	run_aigw stats summary --since 55s --by node --json
	jq -e '[.groups[] | [.name, .requests, .errors]] == [["n1", 3, 1], ["n2", 1, 1]]' \
		<<<"$output" >/dev/null || fail "$output"
	jq -e '.groups[1].ttft_us == null and .groups[1].latency_us.p50 == 4864' <<<"$output" >/dev/null

	run_aigw stats summary --since 55s --by model --json
	jq -e '[.groups[] | [.name, .requests, .tokens_in]] == [["gpt-4o", 3, 10], ["mock-1", 1, 5]]' \
		<<<"$output" >/dev/null || fail "$output"

	run_aigw stats summary --since 55s --by status --json
	jq -e '[.groups[] | [.name, .requests, .errors]] == [["2xx", 2, 0], ["4xx", 1, 1], ["5xx", 1, 1]]' \
		<<<"$output" >/dev/null || fail "$output"
}

@test "summary --by: a table for people, unknown cost says so" {
	make_log
	run_aigw stats summary --since 55s --by route
	assert_ok
	assert_lines 3 "$output"
	[[ "${lines[0]}" =~ ^ROUTE\ +REQUESTS\ +ERRORS\ +P50\ +P95\ +P99\ +TTFT\ P50\ +TTFT\ P95\ +TTFT\ P99\ +TOKENS\ IN\ +TOKENS\ OUT\ +COST$ ]] ||
		fail "${lines[0]}"
	[[ "${lines[1]}" =~ ^chat\ +3\ +66\.7%\ +1\.22ms\ +4\.86ms\ +4\.86ms\ +304us\ +304us\ +304us\ +10\ +20\ +\$0\.0015\*$ ]] ||
		fail "${lines[1]}"
	[[ "${lines[2]}" =~ ^embed\ +1\ +0\.0%\ +800us\ +800us\ +800us\ +100us\ +100us\ +100us\ +5\ +0\ +unknown$ ]] ||
		fail "${lines[2]}"
	run_aigw stats summary --since 55s --by key -q
	assert_ok
	assert_stdout $'ci\nops\n-'
}

@test "summary --csv: a header row and one row per group" {
	make_log
	run_aigw stats summary --since 55s --by model --csv
	assert_ok
	assert_csv
	assert_lines 3 "$output"
	[ "${lines[0]}" = "model,requests,errors,error_rate,latency_p50_us,latency_p95_us,latency_p99_us,ttft_p50_us,ttft_p95_us,ttft_p99_us,tokens_in,tokens_out,cost_usd,priced" ]
	[ "${lines[1]}" = "gpt-4o,3,2,0.666667,1216,4864,4864,304,304,304,10,20,0.0015,1" ]
	[ "${lines[2]}" = "mock-1,1,0,0.000000,800,800,800,100,100,100,5,0,,0" ]
	run_aigw stats summary --since 55s --csv
	assert_ok
	assert_csv
	assert_lines 2 "$output"
	[ "${lines[1]}" = "4,2,0.500000,800,4864,4864,100,304,304,15,20,0.0015,1" ]
}

@test "summary: the window accepts RFC 3339 and Unix seconds, --until excludes" {
	make_log
	# [01:44:15, 01:44:45): rows at -20s and -30s and -40s? no: -40s is 01:44:20
	run_aigw stats summary --since 2026-11-23T01:44:15Z --until $((NOW - 15)) --json
	assert_ok
	jq -e '.total.requests == 3' <<<"$output" >/dev/null || fail "$output"
	run_aigw stats summary --since 2026-11-23T03:44:15+02:00 --until 2026-11-23T01:44:40Z --json
	assert_ok
	jq -e '.total.requests == 2 and .until == "2026-11-23T01:44:40Z"' <<<"$output" >/dev/null ||
		fail "$output"
	run_aigw stats summary --since 2026-11-23T01:44:49.500Z --json
	jq -e '.total.requests == 1 and .since == "2026-11-23T01:44:49.500Z"' <<<"$output" >/dev/null ||
		fail "$output"
	# an empty window of the log: zeros, no percentiles, cost not 0 but absent
	run_aigw stats summary --since 5s --json
	assert_ok
	jq -e '.total.requests == 0 and .total.latency_us == null and .total.cost_usd == null' \
		<<<"$output" >/dev/null || fail "$output"
}

@test "top: the busiest keys, models and nodes" {
	make_log
	run_aigw stats top --since 55s --json
	assert_ok
	assert_lines 1 "$output"
	jq -e '[.keys[].name] == ["ci", "ops", null] and [.models[].name] == ["gpt-4o", "mock-1"]
		and [.nodes[].name] == ["n1", "n2"] and (has("routes") | not)' <<<"$output" >/dev/null ||
		fail "$output"
	run_aigw stats top --since 55s --by route --limit 1 --json
	assert_ok
	jq -e '.routes == [.routes[0]] and .routes[0].name == "chat" and .routes[0].requests == 3
		and (has("keys") | not)' <<<"$output" >/dev/null || fail "$output"
	run_aigw stats top --since 55s --by status --json
	assert_ok
	jq -e '[.statuses[].name] == ["2xx", "4xx", "5xx"]' <<<"$output" >/dev/null || fail "$output"
	run_aigw stats top --since 55s --limit 1 -q
	assert_ok
	assert_stdout $'ci\ngpt-4o\nn1'
	run_aigw stats top --since 55s --limit 1
	assert_ok
	assert_lines 8 "$output"
	[[ "${lines[0]}" =~ ^KEY\ +REQUESTS ]] && [[ "${lines[1]}" =~ ^ci\ +2\  ]] || fail "$output"
	[ -z "${lines[2]}" ]
	[[ "${lines[3]}" =~ ^MODEL\ +REQUESTS ]] && [[ "${lines[7]}" =~ ^n1\ +3\  ]] || fail "$output"
	run_aigw stats top --since 55s --limit 2 --csv
	assert_ok
	assert_csv
	assert_lines 7 "$output"
	[[ "${lines[0]}" == by,name,requests,* ]]
	[[ "${lines[1]}" == key,ci,2,1,* ]] && [[ "${lines[6]}" == node,n2,1,1,* ]] || fail "$output"
}

@test "timeseries: intervals with a chart, --json and --csv" {
	make_log
	sql "insert into request_log (ts_ms, request_id, route, status, latency_us)
		values ($NOW_MS - 70000, 'e', 'chat', 200, 100)"
	# [01:43:45, 01:44:55) in minutes: 01:43 (one row), 01:44 (four); no
	# whole minute inside, so raw rows answer (the rows have no rollups)
	run_aigw stats timeseries --since 75s --until 5s
	assert_ok
	assert_lines 3 "$output"
	[[ "${lines[0]}" =~ ^START\ +REQUESTS\ +ERRORS\ +P50\ +P99\ +REQUESTS\ CHART$ ]] || fail "$output"
	[[ "${lines[1]}" =~ ^2026-11-23T01:43:00Z\ +1\ +0\.0%\ +100us\ +100us\ +##########$ ]] || fail "${lines[1]}"
	[[ "${lines[2]}" =~ ^2026-11-23T01:44:00Z\ +4\ +50\.0%\ +800us\ +4\.86ms\ +#{40}$ ]] || fail "${lines[2]}"
	run_aigw stats timeseries --since 75s --until 5s --every 1m --json
	assert_ok
	assert_lines 1 "$output"
	jq -e '.every_ms == 60000 and ([.intervals[] | [.start, .requests]] ==
		[["2026-11-23T01:43:00Z", 1], ["2026-11-23T01:44:00Z", 4]]) and .total.requests == 5' \
		<<<"$output" >/dev/null || fail "$output"
	run_aigw stats timeseries --since 75s --until 5s --csv
	assert_ok
	assert_csv
	assert_lines 3 "$output"
	[[ "${lines[1]}" == 2026-11-23T01:43:00Z,1,0,* ]] || fail "$output"
	run_aigw stats timeseries --since 75s --until 5s -q
	assert_stdout $'2026-11-23T01:43:00Z\n2026-11-23T01:44:00Z'
	# quiet intervals are listed, as zero
	run_aigw stats timeseries --since 2026-11-23T01:40:30Z --until 2026-11-23T01:42:30Z --every 1m --json
	assert_ok
	jq -e '[.intervals[] | .requests] == [0, 0, 0]' <<<"$output" >/dev/null || fail "$output"
}

@test "tail: the latest requests, as lines, JSON lines and CSV" {
	make_log
	run_aigw stats tail -n 2
	assert_ok
	assert_stdout "2026-11-23T01:44:40Z  502  5ms     -       chat n2 gpt-4o ci in=- out=- - upstream_timeout
2026-11-23T01:44:50Z  200  1.2ms   300us   chat n1 gpt-4o ci in=10 out=20 \$0.0015"
	run_aigw stats tail --json
	assert_ok
	assert_lines 5 "$output"
	assert_json_lines
	jq -se 'map(select(.request_id == "b"))[0] | .status == 502 and .error == "upstream_timeout"
		and .cost_usd == null and .ttft_us == null and .key_name == "ci" and .latency_us == 5000' \
		<<<"$output" >/dev/null || fail "$output"
	[ "$(jq -r .request_id <<<"$output" | tr '\n' ' ')" = "old d c b a " ]
	run_aigw stats tail --csv -n 3
	assert_ok
	assert_csv
	assert_lines 4 "$output"
	[ "${lines[2]}" = "4,2026-11-23T01:44:40Z,b,ci,chat,n2,gpt-4o,502,0,5000,,,,,upstream_timeout" ]
	run_aigw stats tail -q -n 1
	assert_stdout 5
	run_aigw stats tail -n 0
	assert_ok
	assert_stdout_empty
}

@test "tail -f: sees a request logged after it started" {
	make_log
	"$AIGW" stats tail -f -n 1 --json >"$TEST_DIR/follow.out" 2>"$TEST_DIR/follow.err" &
	local pid=$!
	# it has printed the last row before the new one goes in
	for _ in $(seq 100); do [ -s "$TEST_DIR/follow.out" ] && break; sleep 0.05; done
	sql "insert into request_log (ts_ms, request_id, route, status, latency_us)
		values ($NOW_MS, 'live', 'chat', 200, 42)"
	for _ in $(seq 100); do grep -q '"live"' "$TEST_DIR/follow.out" && break; sleep 0.05; done
	kill "$pid"
	wait "$pid" || true
	[ "$(jq -r .request_id "$TEST_DIR/follow.out" | tr '\n' ' ')" = "a live " ] ||
		fail "$(cat "$TEST_DIR/follow.out")"
	[ ! -s "$TEST_DIR/follow.err" ] || fail "$(cat "$TEST_DIR/follow.err")"
}

@test "prune: deletes only the rows before the cutoff and says how many" {
	make_log
	run_aigw stats prune --older-than 30d
	assert_ok
	assert_stdout "deleted 1 request logged before 2026-10-24T01:45:00Z"
	[ "$(sql "select group_concat(request_id) from request_log")" = "d,c,b,a" ]
	run_aigw stats prune --older-than 30d --json
	assert_ok
	jq -e '.deleted == 0 and .older_than == "2026-10-24T01:45:00Z"' <<<"$output" >/dev/null
	run_aigw stats prune --older-than 2026-11-23T01:44:25Z -q
	assert_ok
	assert_stdout 1
	[ "$(sql "select group_concat(request_id) from request_log")" = "c,b,a" ]
}

@test "stats reads without changing the database" {
	make_log
	snapshot_db
	for args in "summary --since 55s" "summary --by key --json" "top --csv" \
		"timeseries --since 2h --every 5m" "tail -n 3"; do
		# shellcheck disable=SC2086
		run_aigw stats $args
		assert_ok
	done
	assert_db_unchanged
}

@test "a missing database: said so, nothing created" {
	for args in "summary" "top" "timeseries" "tail" "tail -f" "prune --older-than 30d"; do
		# shellcheck disable=SC2086
		run_aigw stats $args
		assert_fail 3 "aigw stats: no database at '$AIGW_DB' (nothing has been logged yet)"
		assert_no_db
	done
	# the default location: not even its directory is made
	unset AIGW_DB
	run_aigw stats summary
	assert_fail 3 "aigw stats: no database at '$XDG_STATE_HOME/aigw/aigw.db' (nothing has been logged yet)"
	[ ! -e "$XDG_STATE_HOME/aigw" ]
}

@test "a broken or foreign database: the store's error, file untouched" {
	printf 'not a database at all, just some text that is long enough\n%.0s' $(seq 200) >"$AIGW_DB"
	snapshot_db
	run_aigw stats summary
	assert_fail 1 "aigw stats: '$AIGW_DB' is not an aigw database (file is not a database)"
	run_aigw stats prune --older-than 1d
	assert_fail 1 "aigw stats: '$AIGW_DB' is not an aigw database (file is not a database)"
	assert_db_unchanged
	rm -f "$AIGW_DB"
	sqlite3 "$AIGW_DB" "create table t (x); insert into t values (1)"
	snapshot_db
	run_aigw stats tail
	assert_fail 1 "aigw stats: '$AIGW_DB' belongs to another program (it has tables but no aigw application_id)"
	assert_db_unchanged
	rm -f "$AIGW_DB"
	sqlite3 "$AIGW_DB" "pragma application_id = 1634297719; pragma user_version = 99"
	snapshot_db
	run_aigw stats summary
	assert_fail 1 "aigw stats: database '$AIGW_DB' has schema version 99, newer than this aigw supports (7); upgrade aigw"
	assert_db_unchanged
}

@test "bad flags and values: exit 2, one line, database unchanged" {
	make_log
	snapshot_db
	run_aigw stats summary --since yesterday
	assert_fail 2 "aigw stats: --since: 'yesterday' is not a time (use a duration such as 1h, 2026-11-23T01:45:00Z or Unix seconds)"
	run_aigw stats summary --until 2026-11-31
	assert_fail 2 "aigw stats: --until: '2026-11-31' is not a time (use a duration such as 1h, 2026-11-23T01:45:00Z or Unix seconds)"
	run_aigw stats summary --since 1h --until 2h
	assert_fail 2 "aigw stats: the window is empty: --until must be after --since"
	run_aigw stats summary --since ''
	assert_fail 2 "aigw stats: --since: '' is not a time (use a duration such as 1h, 2026-11-23T01:45:00Z or Unix seconds)"
	run_aigw stats summary --by colour
	assert_fail 2 "aigw stats: --by: unknown grouping 'colour' (choose from route, node, key, model, status)"
	run_aigw stats summary --by rout
	assert_fail 2 "aigw stats: --by: unknown grouping 'rout' (did you mean 'route'?)"
	run_aigw stats summary --json --csv
	assert_fail 2 "aigw stats: --csv and --json cannot be used together"
	run_aigw stats summary -f
	assert_fail 2 "aigw stats: option '--follow' does not apply to 'stats summary'"
	run_aigw stats summary --every 1m
	assert_fail 2 "aigw stats: option '--every' does not apply to 'stats summary'"
	run_aigw stats top --limit 0
	assert_fail 2 "aigw stats: --limit: 0 is out of range (1..1000000)"
	run_aigw stats top --limit many
	assert_fail 2 "aigw stats: --limit: 'many' is not a number"
	run_aigw stats timeseries --every 30s
	assert_fail 2 "aigw stats: --every: '30s' is not a whole number of minutes"
	run_aigw stats timeseries --every 90s
	assert_fail 2 "aigw stats: --every: '90s' is not a whole number of minutes"
	run_aigw stats timeseries --every 5
	assert_fail 2 "aigw stats: --every: '5' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)"
	run_aigw stats timeseries --since 30d --every 1m
	assert_fail 2 "aigw stats: --every: the window would have more than 10000 intervals"
	run_aigw stats tail -n -1
	assert_fail 2 "aigw stats: --lines: -1 is out of range (0..1000000)"
	run_aigw stats tail --since 1h
	assert_fail 2 "aigw stats: option '--since' does not apply to 'stats tail'"
	run_aigw stats prune
	assert_fail 2 "aigw stats: missing required option '--older-than TIME'"
	run_aigw stats prune --older-than soon
	assert_fail 2 "aigw stats: --older-than: 'soon' is not a time (use a duration such as 1h, 2026-11-23T01:45:00Z or Unix seconds)"
	run_aigw stats prune --older-than 30d --csv
	assert_fail 2 "aigw stats: option '--csv' does not apply to 'stats prune'"
	run_aigw stats
	assert_fail 2 "aigw stats: missing verb (one of: summary, top, timeseries, tail, prune)"
	run_aigw stats sumary
	assert_fail 2 "aigw stats: unknown verb 'sumary' (did you mean 'summary'?)"
	run_aigw stats summary extra
	assert_status 2
	assert_stdout_empty
	assert_lines 1 "$stderr"
	assert_db_unchanged
	[ "$(sql "select count(*) from request_log")" = 5 ]
}

# wait_listening FILE PID: waits for "listening on ADDR" in FILE; prints ADDR.
wait_listening() {
	local i
	for i in $(seq 1 300); do
		if grep -q '^listening on ' "$1" 2>/dev/null; then
			sed -n 's/^listening on //p' "$1" | head -1
			return 0
		fi
		kill -0 "$2" 2>/dev/null || break
		sleep 0.02
	done
	return 1
}

@test "summary over whole minutes reads the rollups aigw serve wrote" {
	local mock_pid serve_pid mock_addr serve_addr key i
	# serve logs every request at AIGW_NOW: 01:45:00, so all land in one minute
	"$AIGW" mock --listen 127.0.0.1:0 --workers 1 >"$TEST_DIR/mock.out" 2>"$TEST_DIR/mock.err" 3>&- &
	mock_pid=$!
	mock_addr=$(wait_listening "$TEST_DIR/mock.out" "$mock_pid")
	aigw nodes add m1 --url "http://$mock_addr/v1" --provider openai-compatible -q >/dev/null
	aigw route add chat --path /v1 --nodes m1 -q >/dev/null
	key=$(aigw keys create --name t -q)
	"$AIGW" serve --listen 127.0.0.1:0 --workers 1 >"$TEST_DIR/serve.out" 2>"$TEST_DIR/serve.err" 3>&- &
	serve_pid=$!
	serve_addr=$(wait_listening "$TEST_DIR/serve.out" "$serve_pid")
	for i in 1 2 3 4 5; do
		curl -sS -o /dev/null --max-time 10 -H "Authorization: Bearer $key" \
			"http://$serve_addr/v1/chat/completions" \
			-d '{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]}'
	done
	# refused without a key: logged, an error, no key
	curl -sS -o /dev/null --max-time 10 "http://$serve_addr/v1/chat/completions" -d '{}'
	kill -TERM "$serve_pid"
	wait "$serve_pid"
	kill "$mock_pid"
	wait "$mock_pid" || true
	! grep -qE 'Sanitizer|runtime error:' "$TEST_DIR/serve.err" "$TEST_DIR/mock.err" ||
		fail "$(cat "$TEST_DIR/serve.err" "$TEST_DIR/mock.err")"
	[ "$(sql "select count(*) from request_log")" = 6 ]
	[ "$(sql "select sum(requests) from request_rollup")" = 6 ]

	# [01:44:30, 01:46:30): minute 01:45 whole (rollups), the edges empty
	AIGW_NOW=$((NOW + 90)) run_aigw stats summary --since 2m --by key --json
	assert_ok
	jq -e '[.groups[] | [.name, .requests, .errors]] == [["t", 5, 0], [null, 1, 1]]
		and .total.requests == 6 and .total.errors == 1' <<<"$output" >/dev/null || fail "$output"
	local want
	want=$(sql "select sum(prompt_tokens) || ' ' || sum(completion_tokens) from request_log")
	[ "$(jq -r '"\(.total.tokens_in) \(.total.tokens_out)"' <<<"$output")" = "$want" ] ||
		fail "tokens: $output, raw rows: $want"
	# the latency percentiles come from the rollup histograms: the p99 is
	# within the histogram's precision of the slowest request
	local max p99
	max=$(sql "select max(latency_us) from request_log")
	p99=$(jq .total.latency_us.p99 <<<"$output")
	[ "$p99" -ge $((max * 93 / 100)) ] && [ "$p99" -le $((max * 107 / 100 + 1)) ] ||
		fail "p99 $p99, slowest $max"
	# a window that only grazes the minute reads raw rows and agrees
	AIGW_NOW=$((NOW + 1)) run_aigw stats summary --since 2s --json
	assert_ok
	jq -e '.total.requests == 6' <<<"$output" >/dev/null || fail "$output"
}
