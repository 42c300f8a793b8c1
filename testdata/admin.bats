#!/usr/bin/env bats
# The admin API of aigw serve (--admin-listen, AIGW_ADMIN_TOKEN): the
# token, every endpoint, changes reaching the gateway listener, the same
# validation wording as the command line, and the status codes (400, 401,
# 404, 405, 409, 413). Every serve a test starts is stopped in teardown,
# which fails the test when serve did not exit 0 or printed a sanitizer
# report.
bats_require_minimum_version 1.5.0
load helpers

TOKEN=admin-test-token

setup() {
	aigw_setup
	SERVE_PID=
}

teardown() {
	local rc=0
	if [ -n "${SERVE_PID:-}" ]; then
		stop_serve || rc=1
	fi
	if [ -f "$TEST_DIR/serve.err" ] && grep -qE 'Sanitizer|runtime error:' "$TEST_DIR/serve.err"; then
		echo "serve's stderr has a sanitizer report:" >&2
		cat "$TEST_DIR/serve.err" >&2
		rc=1
	fi
	aigw_teardown
	return $rc
}

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# eventually MS CMD...: runs CMD every 50 ms until it succeeds, for up to MS
# milliseconds.
eventually() {
	local deadline=$(($(now_ms) + $1))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(now_ms)" -lt "$deadline" ] || break
		sleep 0.05
	done
	echo "never true within the time: $*" >&2
	return 1
}

# start_serve [OPTION...]: serve with the admin API on free ports; sets
# SERVE_PID, URL (the gateway) and ADMIN (the admin API).
start_serve() {
	local i
	AIGW_ADMIN_TOKEN=$TOKEN "$AIGW" serve --listen 127.0.0.1:0 \
		--admin-listen "${ADMIN_LISTEN:-127.0.0.1:0}" --workers 1 "$@" >"$TEST_DIR/serve.out" 2>"$TEST_DIR/serve.err" 3>&- &
	SERVE_PID=$!
	for i in $(seq 1 300); do
		grep -q '^admin listening on ' "$TEST_DIR/serve.out" 2>/dev/null && break
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.02
	done
	URL="http://$(sed -n 's/^listening on //p' "$TEST_DIR/serve.out")"
	ADMIN="http://$(sed -n 's/^admin listening on //p' "$TEST_DIR/serve.out")"
	[ "$ADMIN" != "http://" ] || {
		cat "$TEST_DIR/serve.out" "$TEST_DIR/serve.err" >&2
		return 1
	}
}

# stop_serve: SIGTERM; serve must exit 0 within 5 s.
stop_serve() {
	local i st=0
	kill -TERM "$SERVE_PID" 2>/dev/null || true
	for i in $(seq 1 250); do
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$SERVE_PID" 2>/dev/null; then
		kill -KILL "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID" 2>/dev/null
		SERVE_PID=
		echo "serve did not stop within 5 s" >&2
		return 1
	fi
	wait "$SERVE_PID" || st=$?
	SERVE_PID=
	[ "$st" -eq 0 ] || {
		echo "serve exited with status $st:" >&2
		cat "$TEST_DIR/serve.err" >&2
		return 1
	}
}

# api METHOD PATH [BODY]: one admin request with the token; sets CODE and
# BODY, and the head in $TEST_DIR/head.
api() {
	local m=$1 p=$2
	shift 2
	api_as "Authorization: Bearer $TOKEN" "$m" "$p" "$@"
}

# api_as HEADER METHOD PATH [BODY]
api_as() {
	local h=$1 m=$2 p=$3
	local args=(-sS --max-time 10 -X "$m" -H "$h" -D "$TEST_DIR/head" -o "$TEST_DIR/body"
		-w '%{http_code}')
	[ $# -lt 4 ] || args+=(-H 'Content-Type: application/json' --data-binary "$4")
	[ "$m" != HEAD ] || args=(-sS --max-time 10 -I -H "$h" -D "$TEST_DIR/head" -o /dev/null -w '%{http_code}')
	CODE=$(curl "${args[@]}" "$ADMIN$p") || CODE=curl-failed
	BODY=$(cat "$TEST_DIR/body" 2>/dev/null)
}

header() { sed -n "s/^$1: *//Ip" "$TEST_DIR/head" | tr -d '\r' | head -1; }

# expect STATUS METHOD PATH [BODY]: the answer has that status.
expect() {
	local want=$1
	shift
	api "$@"
	[ "$CODE" = "$want" ] || fail "$* -> $CODE, expected $want: $BODY"
}

# expect_error STATUS MESSAGE METHOD PATH [BODY]: OpenAI's error shape
# with exactly that message.
expect_error() {
	local want=$1 msg=$2
	shift 2
	expect "$want" "$@"
	jq -e --arg m "$msg" '.error.message == $m and (.error.type | type == "string")
		and (.error.code | type == "string")' <<<"$BODY" >/dev/null ||
		fail "$* -> $CODE: expected message '$msg': $BODY"
}

# What the CLI says after "aigw CMD: " and an optional "--option: ".
cli_reason() { sed -e 's/^aigw [a-z]*: //' -e 's/^--[a-z-]*: //' <<<"$1"; }

# The gateway answers GET /v1/models with this key with STATUS.
models_status() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$URL/v1/models")" = "$2" ]
}

# ---------------------------------------------------------------- start-up

@test "admin: --admin-listen without AIGW_ADMIN_TOKEN exits 2" {
	unset AIGW_ADMIN_TOKEN
	run_aigw serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
	assert_fail 2 "aigw serve: --admin-listen: the admin API needs a token: set AIGW_ADMIN_TOKEN"
	AIGW_ADMIN_TOKEN= run_aigw serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0
	assert_fail 2 "aigw serve: --admin-listen: the admin API needs a token: set AIGW_ADMIN_TOKEN"
}

@test "admin: starts only with a token, logs its address, stops with the gateway" {
	unset AIGW_ADMIN_TOKEN
	"$AIGW" serve --listen 127.0.0.1:0 --workers 1 >"$TEST_DIR/serve.out" 2>"$TEST_DIR/serve.err" 3>&- &
	SERVE_PID=$!
	for _ in $(seq 1 300); do
		grep -q '^listening on ' "$TEST_DIR/serve.out" && break
		sleep 0.02
	done
	stop_serve
	! grep -q admin "$TEST_DIR/serve.out" "$TEST_DIR/serve.err"

	start_serve
	[ "$(sed -n 1p "$TEST_DIR/serve.out")" = "listening on ${URL#http://}" ]
	[ "$(sed -n 2p "$TEST_DIR/serve.out")" = "admin listening on ${ADMIN#http://}" ]
	grep -q "^aigw: info: admin API on ${ADMIN#http://}\$" "$TEST_DIR/serve.err"
	[[ $ADMIN == http://127.0.0.1:* ]]
}

@test "admin: ':PORT' means loopback; bad addresses are refused" {
	ADMIN_LISTEN=:0 start_serve
	[[ $ADMIN == http://127.0.0.1:* ]] || fail "$ADMIN"
	! grep -q warn "$TEST_DIR/serve.err"
	stop_serve
	AIGW_ADMIN_TOKEN=$TOKEN run_aigw serve --listen 127.0.0.1:0 --admin-listen nonsense
	assert_status 2
	[[ $stderr == *"nonsense"* ]] || fail "$stderr"
	fixture conf-static.yaml aigw.yaml
	echo 'admin_listen: 8081' >>aigw.yaml
	AIGW_ADMIN_TOKEN=$TOKEN run_aigw serve --listen 127.0.0.1:0
	assert_status 4
	[[ $stderr == *"admin_listen: '8081' is not an address"* ]] || fail "$stderr"
}

# ---------------------------------------------------------------- auth

@test "admin: no token or a wrong one is 401 on every path" {
	start_serve
	for p in /admin/keys /admin/nodes /admin/routes/x /nowhere; do
		api_as "X-Nothing: 1" GET "$p"
		[ "$CODE" = 401 ] || fail "$p without a token: $CODE"
		jq -e '.error.code == "missing_api_key" and .error.type == "invalid_request_error"' <<<"$BODY" >/dev/null
		[ "$(header WWW-Authenticate)" = Bearer ]
		api_as "Authorization: Bearer wrong" POST "$p" '{}'
		[ "$CODE" = 401 ] || fail "$p with a wrong token: $CODE"
		jq -e '.error.code == "invalid_api_key" and .error.message == "invalid admin token"' <<<"$BODY" >/dev/null
	done
	# Only Authorization: Bearer counts, and only the whole token.
	api_as "x-api-key: $TOKEN" GET /admin/keys
	[ "$CODE" = 401 ]
	api_as "Authorization: Bearer ${TOKEN}x" GET /admin/keys
	[ "$CODE" = 401 ]
	api_as "Authorization: Bearer ${TOKEN%?}" GET /admin/keys
	[ "$CODE" = 401 ]
	api_as "Authorization: bearer $TOKEN" GET /admin/keys
	[ "$CODE" = 200 ]
	# The gateway's own listener knows nothing of /admin.
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/admin/keys")" = 401 ]
}

# ---------------------------------------------------------------- keys

@test "admin: keys: create, list, show, update, rotate, revoke, delete" {
	start_serve
	expect 201 POST /admin/keys '{"name":"app","rpm":60,"tpm":1000,"budget_usd":12.5,"expires":"30d","models":["gpt-*"]}'
	jq -e '.name == "app" and .rpm == 60 and .tpm == 1000 and .budget_usd == 12.5 and
		.models == ["gpt-*"] and .status == "active" and (.expires_at | type == "string") and
		(.key | startswith("aigw_")) and (.key[0:11] == .prefix)' <<<"$BODY" >/dev/null
	[ "$(header Cache-Control)" = no-store ]
	[ "$(header Content-Type)" = application/json ]
	secret=$(jq -r .key <<<"$BODY")
	id=$(jq -r .id <<<"$BODY")

	expect 200 GET /admin/keys
	jq -e --argjson id "$id" '.object == "list" and (.data | length == 1) and .data[0].id == $id
		and (.data[0] | has("key") | not)' <<<"$BODY" >/dev/null
	expect 200 GET "/admin/keys/$id"
	jq -e '.name == "app" and (has("key") | not)' <<<"$BODY" >/dev/null
	# The same record as the CLI prints.
	[ "$(jq -cS . <<<"$BODY")" = "$(aigw keys show app --json | jq -cS .)" ]
	expect 200 HEAD /admin/keys/app

	expect 200 PATCH /admin/keys/app '{"rpm":null,"budget_usd":"$3","expires":"never","name":"app2"}'
	jq -e '.name == "app2" and .rpm == 0 and .budget_usd == 3 and .expires_at == null and .tpm == 1000' <<<"$BODY" >/dev/null
	expect_error 400 "nothing to update (give at least one field)" PATCH /admin/keys/app2 '{}'

	expect 201 POST /admin/keys/app2/rotate
	jq -e --argjson id "$id" '.rotated_from == $id and .status == "active" and (.key | startswith("aigw_"))' <<<"$BODY" >/dev/null
	secret2=$(jq -r .key <<<"$BODY")
	id2=$(jq -r .id <<<"$BODY")
	[ "$secret2" != "$secret" ]
	expect 200 GET "/admin/keys/$id"
	jq -e '.status == "revoked"' <<<"$BODY" >/dev/null

	expect 200 POST "/admin/keys/$id2/revoke"
	jq -e '.status == "revoked" and (.revoked_at | type == "string") and (has("key") | not)' <<<"$BODY" >/dev/null
	expect_error 409 "key 'app2' is already revoked" POST "/admin/keys/$id2/revoke"
	expect_error 409 "key '$id2' is revoked and cannot be rotated" POST "/admin/keys/$id2/rotate"
	expect_error 409 "key 'app2' is revoked and cannot be changed" PATCH /admin/keys/app2 '{"rpm":1}'

	# Revoked keys are listed with ?all=true only, as with --all.
	expect 200 GET /admin/keys
	jq -e '.data == []' <<<"$BODY" >/dev/null
	expect 200 GET '/admin/keys?all=true'
	jq -e '.data | length == 2' <<<"$BODY" >/dev/null

	expect 204 DELETE "/admin/keys/$id"
	[ -z "$BODY" ]
	expect_error 404 "no key with id $id" GET "/admin/keys/$id"
	expect 404 DELETE "/admin/keys/$id"
	expect 404 POST /admin/keys/nosuch/revoke

	# Secrets were shown once, in the answers above, and never logged.
	! grep -qF "$secret" "$TEST_DIR/serve.err"
	! grep -qF "$secret2" "$TEST_DIR/serve.err"
	grep -q "admin: created key 'app' (id $id)" "$TEST_DIR/serve.err"
}

@test "admin: a key made through the API works at once; a revoked one stops" {
	start_serve
	expect 201 POST /admin/keys '{"name":"live"}'
	secret=$(jq -r .key <<<"$BODY")
	eventually 1500 models_status "$secret" 200
	expect 200 POST /admin/keys/live/revoke
	eventually 1500 models_status "$secret" 401
	# Rotation through the API: the new secret works, the old one not.
	expect 201 POST /admin/keys '{"name":"rot"}'
	old=$(jq -r .key <<<"$BODY")
	eventually 1500 models_status "$old" 200
	expect 201 POST /admin/keys/rot/rotate
	new=$(jq -r .key <<<"$BODY")
	eventually 1500 models_status "$new" 200
	models_status "$old" 401
}

@test "admin: key values are judged as on the command line" {
	start_serve
	check() { # FIELD JSON-VALUE CLI-OPTION CLI-VALUE
		run_aigw keys create --name x "--$3" "$4"
		[ "$status" -ne 0 ] || fail "the CLI took --$3 $4"
		expect_error 400 "$1: $(cli_reason "$stderr")" POST /admin/keys "{\"name\":\"x\",\"$1\":$2}"
	}
	check rpm -1 rpm -1
	check tpm 2000000000 tpm 2000000000
	check budget_usd -5 budget -5
	check budget_usd '"1.1234567"' budget 1.1234567
	check expires '"2001-01-01"' expires 2001-01-01
	check expires '"soon"' expires soon
	check models '"a,,b"' models 'a,,b'

	# Rules of the key itself (lib/key.c) come through unchanged.
	run_aigw keys create --name 'bad name'
	expect_error 400 "$(cli_reason "$stderr")" POST /admin/keys '{"name":"bad name"}'

	expect_error 400 "name: required field is missing" POST /admin/keys '{"rpm":1}'
	expect_error 400 "nmae: unknown field 'nmae' (did you mean 'name'?)" POST /admin/keys '{"nmae":"x"}'
	expect_error 400 "rpm: expected a whole number, got a string" POST /admin/keys '{"name":"x","rpm":"5"}'
	expect_error 400 "rpm: 1.5 is not a whole number" POST /admin/keys '{"name":"x","rpm":1.5}'
	expect_error 400 "invalid JSON at byte 9" POST /admin/keys '{"name":}'
	expect_error 400 "expected a JSON object, got an array" POST /admin/keys '[]'

	expect 201 POST /admin/keys '{"name":"dup"}'
	run_aigw keys create --name dup
	expect_error 409 "$(cli_reason "$stderr")" POST /admin/keys '{"name":"dup"}'
	expect 200 GET /admin/keys
	jq -e '.data | length == 1' <<<"$BODY" >/dev/null
}

# ---------------------------------------------------------------- nodes

@test "admin: nodes: create, list, show, update, enable, disable, drain, delete" {
	start_serve
	expect 201 POST /admin/nodes '{"name":"n1","url":"http://127.0.0.1:9","provider":"openai-compatible","models":["m-one","m-two"],"region":"eu","weight":3}'
	jq -e '.name == "n1" and .provider == "openai-compatible" and .weight == 3 and .region == "eu"
		and .state == "enabled" and .source == "db"' <<<"$BODY" >/dev/null
	expect 200 GET /admin/nodes/n1
	# the record is the same (the CLI adds the live state serve publishes)
	[ "$(jq -cS . <<<"$BODY")" = "$(aigw nodes show n1 --json | jq -cS 'del(.live)')" ]
	expect 200 GET /admin/nodes
	jq -e '.object == "list" and (.data | map(.name)) == ["n1"]' <<<"$BODY" >/dev/null

	# Only the fields given change; "" removes a region, as --region "" does.
	expect 200 PATCH /admin/nodes/n1 '{"weight":7,"region":"","standby":true,"api_key_env":"N1_KEY"}'
	jq -e '.weight == 7 and .region == null and .standby == true and .api_key_env == "N1_KEY"
		and .models == ["m-one","m-two"] and .url == "http://127.0.0.1:9"' <<<"$BODY" >/dev/null
	# Several accounts, as a list of keys or as accounts; each replaces the other.
	expect 200 PATCH /admin/nodes/n1 '{"api_key_env":["K1","K2"]}'
	jq -e '.api_key_env == null and (.accounts | map(.api_key_env)) == ["K1","K2"]' <<<"$BODY" >/dev/null
	expect 200 PATCH /admin/nodes/n1 '{"accounts":[{"api_key_env":"K3","proxy":"http://127.0.0.1:3128"}]}'
	jq -e '.api_key_env == null and .accounts[0].proxy == "http://127.0.0.1:3128"' <<<"$BODY" >/dev/null
	expect_error 400 "accounts: [0].proxy: proxy 'ftp://p:1' is not http://host:port" PATCH /admin/nodes/n1 '{"accounts":[{"proxy":"ftp://p:1"}]}'
	expect 200 PATCH /admin/nodes/n1 '{"api_key_env":"N1_KEY"}'
	jq -e '.api_key_env == "N1_KEY" and .accounts == null' <<<"$BODY" >/dev/null
	expect 200 PATCH /admin/nodes/n1 '{"name":"n1","standby":false}'
	expect_error 400 "name: a node cannot be renamed (remove it and add it again)" PATCH /admin/nodes/n1 '{"name":"n2"}'
	expect_error 400 "enabled: use POST /admin/nodes/n1/enable, /disable or /drain" PATCH /admin/nodes/n1 '{"enabled":false}'
	expect_error 400 "nothing to update (give at least one field)" PATCH /admin/nodes/n1 '{}'
	expect_error 404 "no node named 'nx'" PATCH /admin/nodes/nx '{"weight":2}'

	for action in disable drain enable; do
		expect 200 POST "/admin/nodes/n1/$action"
		state=$(jq -r .state <<<"$BODY")
		[ "$(aigw nodes show n1 --json | jq -r .state)" = "$state" ]
	done
	[ "$state" = enabled ]
	expect_error 404 "no node named 'nx'" POST /admin/nodes/nx/disable

	expect 201 POST /admin/routes '{"name":"r1","path":"/v1","nodes":["n1"]}'
	expect_error 409 "node 'n1' is used by route 'r1'; remove it from the route first" DELETE /admin/nodes/n1
	expect 204 DELETE /admin/routes/r1
	expect 204 DELETE /admin/nodes/n1
	expect 404 GET /admin/nodes/n1
	expect 404 DELETE /admin/nodes/n1
	grep -q "admin: added node 'n1'" "$TEST_DIR/serve.err"
}

@test "admin: a node added through the API reaches the gateway" {
	start_serve
	KEY=$(aigw keys create --name k -q)
	expect 201 POST /admin/nodes '{"name":"n1","url":"http://127.0.0.1:9","provider":"openai","models":["model-from-admin"]}'
	has_model() {
		curl -s -H "Authorization: Bearer $KEY" "$URL/v1/models" | jq -e --arg m "$1" 'any(.data[]; .id == $m)'
	}
	eventually 1500 has_model model-from-admin
	expect 200 POST /admin/nodes/n1/disable
	eventually 1500 eval '! has_model model-from-admin'
}

@test "admin: node values are judged as on the command line" {
	start_serve
	check() { # JSON-BODY CLI-ARGS...: same reason, the API naming the field
		local body=$1
		shift
		run_aigw nodes add n1 "$@"
		[ "$status" -ne 0 ] || fail "the CLI took $*"
		api POST /admin/nodes "$body"
		[ "$CODE" = 400 ] || fail "$body -> $CODE"
		msg=$(jq -r .error.message <<<"$BODY")
		reason=$(cli_reason "$stderr")
		[[ $msg == *": $reason" ]] || fail "API: '$msg', CLI: '$reason'"
	}
	check '{"name":"n1","url":"http://x","provider":"openai","weight":0}' --url http://x --provider openai --weight 0
	check '{"name":"n1","url":"ftp://x","provider":"openai"}' --url ftp://x --provider openai
	check '{"name":"n1","url":"http://x","provider":"opena"}' --url http://x --provider opena
	check '{"name":"n1","url":"http://x","provider":"openai","max_concurrency":-1}' --url http://x --provider openai --max-concurrency -1
	expect_error 400 "provider: unknown provider 'opena' (did you mean 'openai'?)" POST /admin/nodes '{"name":"n1","url":"http://x","provider":"opena"}'
	expect_error 400 "weight: 0 is out of range (1..1000)" POST /admin/nodes '{"name":"n1","url":"http://x","provider":"openai","weight":0}'
	expect_error 400 "url: required directive is missing" POST /admin/nodes '{"name":"n1","provider":"openai"}'
	# PATCH judges values the same way.
	expect 201 POST /admin/nodes '{"name":"n1","url":"http://x","provider":"openai"}'
	expect_error 400 "weight: 0 is out of range (1..1000)" PATCH /admin/nodes/n1 '{"weight":0}'
	expect_error 400 "provider: unknown provider 'opena' (did you mean 'openai'?)" PATCH /admin/nodes/n1 '{"provider":"opena"}'
	expect_error 400 "wieght: unknown directive 'wieght' (did you mean 'weight'?)" PATCH /admin/nodes/n1 '{"wieght":2}'
	# A name taken: the same words as the CLI.
	run_aigw nodes add n1 --url http://x --provider openai
	expect_error 409 "$(cli_reason "$stderr")" POST /admin/nodes '{"name":"n1","url":"http://y","provider":"openai"}'
}

@test "admin: YAML nodes and routes are read-only, and SIGHUP updates what the API sees" {
	fixture conf-static.yaml aigw.yaml
	start_serve --config aigw.yaml
	expect 200 GET /admin/nodes/openai-main
	jq -e '.source == "yaml" and (.defined_at | startswith("aigw.yaml:"))' <<<"$BODY" >/dev/null
	run_aigw --config aigw.yaml nodes update openai-main --weight 2
	expect_error 409 "$(cli_reason "$stderr")" PATCH /admin/nodes/openai-main '{"weight":2}'
	expect 409 DELETE /admin/nodes/openai-main
	expect 409 POST /admin/nodes/openai-main/disable
	expect 409 POST /admin/nodes '{"name":"local","url":"http://x","provider":"ollama"}'
	expect 409 DELETE /admin/routes/chat
	expect 200 GET /admin/routes
	jq -e '(.data | map(.name)) == ["chat","local-chat"]' <<<"$BODY" >/dev/null

	# After a reload the API works with the new file's entries.
	printf 'nodes:\n  - name: yaml-new\n    url: http://y\n    provider: ollama\n' >aigw.yaml
	kill -HUP "$SERVE_PID"
	eventually 2000 grep -q "configuration reloaded" "$TEST_DIR/serve.err"
	expect 200 GET /admin/nodes
	jq -e '(.data | map(.name)) == ["yaml-new"] and .data[0].source == "yaml"' <<<"$BODY" >/dev/null
	expect 200 GET /admin/routes
	jq -e '.data == []' <<<"$BODY" >/dev/null
	expect_error 409 "a node named 'yaml-new' is already defined in aigw.yaml:2:5" \
		POST /admin/nodes '{"name":"yaml-new","url":"http://x","provider":"ollama"}'
	expect 201 POST /admin/nodes '{"name":"openai-main","url":"http://x","provider":"openai"}'
}

# ---------------------------------------------------------------- routes

@test "admin: routes: create, list, show, delete, and the rules of route add" {
	start_serve
	aigw nodes add a --url http://127.0.0.1:9001 --provider openai-compatible -q >/dev/null
	expect 201 POST /admin/routes '{"name":"chat","path":"/v1","nodes":["a"],"model":"gpt-*","method":"POST","headers":["X-Team: red"],"policy":"weighted","retries":2,"timeout":"30s"}'
	jq -e '.name == "chat" and .policy == "weighted" and .retries == 2 and .timeout == "30s"
		and .headers == ["X-Team: red"] and .source == "db"' <<<"$BODY" >/dev/null
	expect 200 GET /admin/routes/chat
	[ "$(jq -cS . <<<"$BODY")" = "$(aigw route show chat --json | jq -cS .)" ]
	expect 200 GET /admin/routes
	jq -e '(.data | map(.name)) == ["chat"]' <<<"$BODY" >/dev/null

	# The rules: the same words as `aigw route add`.
	check() { # STATUS BODY CLI-ARGS...
		local want=$1 body=$2
		shift 2
		run_aigw route add "$@"
		[ "$status" -ne 0 ] || fail "the CLI took $*"
		expect_error "$want" "$(cli_reason "$stderr")" POST /admin/routes "$body"
	}
	check 409 '{"name":"chat","path":"/v2","nodes":["a"]}' chat --path /v2 --nodes a
	check 409 '{"name":"tie","path":"/v1","nodes":["a"],"model":"gpt-*","method":"POST","headers":["X-Team: red"]}' \
		tie --path /v1 --nodes a --model 'gpt-*' --method POST -H 'X-Team: red'
	check 400 '{"name":"r","path":"/v2","nodes":["nope"]}' r --path /v2 --nodes nope
	check 400 '{"name":"r","path":"/v2","nodes":["a"],"fallback":"nope"}' r --path /v2 --nodes a --fallback nope
	check 400 '{"name":"r","path":"/v2","nodes":["a"],"fallback":"r"}' r --path /v2 --nodes a --fallback r
	check 400 '{"name":"r","path":"v2","nodes":["a"]}' r --path v2 --nodes a
	expect_error 400 "policy: unknown policy 'weigted' (did you mean 'weighted'?)" POST /admin/routes '{"name":"r","path":"/v2","nodes":["a"],"policy":"weigted"}'
	expect_error 400 "retries: 11 is out of range (0..10)" POST /admin/routes '{"name":"r","path":"/v2","nodes":["a"],"retries":11}'
	expect_error 400 "nodes: required directive is missing" POST /admin/routes '{"name":"r","path":"/v2"}'

	# The narrower timeouts: durations like timeout, null when unset.
	expect 201 POST /admin/routes '{"name":"timed","path":"/v3","nodes":["a"],"timeout":"2m","connect_timeout":"3s","first_byte_timeout":"40s","idle_timeout":"90s"}'
	jq -e '.timeout == "2m" and .connect_timeout == "3s" and .first_byte_timeout == "40s"
		and .idle_timeout == "1m30s"' <<<"$BODY" >/dev/null || fail "$BODY"
	expect 200 GET /admin/routes/timed
	[ "$(jq -cS . <<<"$BODY")" = "$(aigw route show timed --json | jq -cS .)" ]
	expect 200 GET /admin/routes/chat
	jq -e '.connect_timeout == null and .first_byte_timeout == null and .idle_timeout == null' \
		<<<"$BODY" >/dev/null || fail "$BODY"
	expect_error 400 "connect_timeout: '5' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)" POST /admin/routes '{"name":"r","path":"/v4","nodes":["a"],"connect_timeout":"5"}'
	expect_error 400 "first_byte_timeout: 2d is out of range (0s..1d)" POST /admin/routes '{"name":"r","path":"/v4","nodes":["a"],"first_byte_timeout":"2d"}'
	expect_error 400 "idle_timeout: 'x' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)" POST /admin/routes '{"name":"r","path":"/v4","nodes":["a"],"idle_timeout":"x"}'
	expect 204 DELETE /admin/routes/timed

	expect 201 POST /admin/routes '{"name":"backup","path":"/v2","nodes":["a"],"fallback":"chat"}'
	expect_error 409 "route 'chat' is the fallback of route 'backup'" DELETE /admin/routes/chat
	expect 204 DELETE /admin/routes/backup
	expect 204 DELETE /admin/routes/chat
	expect_error 404 "no route named 'chat'" GET /admin/routes/chat
	expect_error 404 "no route named 'chat'" DELETE /admin/routes/chat
}

# ---------------------------------------------------------------- HTTP

@test "admin: unknown paths are 404, wrong methods 405 with Allow, big bodies 413" {
	start_serve
	for p in /admin /admin/ /admin/users /admin/keys/ /admin/keys/x/y/z /admin/keys/x/frob \
		/admin/nodes/x/frob /admin/routes/x/enable /v1/models /; do
		api GET "$p"
		[ "$CODE" = 404 ] || fail "GET $p -> $CODE"
		jq -e '.error.code == "not_found"' <<<"$BODY" >/dev/null
	done
	while read -r method path allow; do
		api "$method" "$path"
		[ "$CODE" = 405 ] || fail "$method $path -> $CODE"
		[ "$(header Allow)" = "$allow" ] || fail "$method $path: Allow: $(header Allow)"
		jq -e '.error.code == "method_not_allowed"' <<<"$BODY" >/dev/null
	done <<-'EOF'
	PUT /admin/keys GET, HEAD, POST
	DELETE /admin/nodes GET, HEAD, POST
	PATCH /admin/routes GET, HEAD, POST
	POST /admin/keys/x GET, HEAD, PATCH, DELETE
	PUT /admin/nodes/x GET, HEAD, PATCH, DELETE
	PATCH /admin/routes/x GET, HEAD, DELETE
	GET /admin/keys/x/rotate POST
	DELETE /admin/nodes/x/drain POST
	EOF
	head -c 1100000 /dev/zero | tr '\0' ' ' >"$TEST_DIR/big.json"
	CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		--data-binary @"$TEST_DIR/big.json" "$ADMIN/admin/keys")
	[ "$CODE" = 413 ]
	CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		-H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$ADMIN/admin/keys")
	[ "$CODE" = 431 ]
	# The listener still answers after those.
	expect 200 GET /admin/keys
}
