#!/usr/bin/env bats
# Geo-aware routing: the client's region from a header or from the CIDR
# map of its address; the nearest nodes take the request, and it spills to
# the next tier when they are full, slow or down.
bats_require_minimum_version 1.5.0
load helpers
load gateway_helpers

# geo_nodes YAML [ROUTE-OPTION...]: aigw.yaml holding YAML; mock eu (with
# EU_OPTS) as node eu (region eu-west, EU_NODE options), mock us (US_OPTS)
# as node us (region us-east), route chat over both (round robin); key;
# serve.
geo_nodes() {
	printf '%s\n' "$1" >aigw.yaml
	shift
	start_mock ${EU_OPTS:-}
	aigw nodes add eu --url "$MOCK_URL" --provider openai --region eu-west ${EU_NODE:-} -q >/dev/null
	start_mock ${US_OPTS:-}
	aigw nodes add us --url "$MOCK_URL" --provider openai --region us-east -q >/dev/null
	aigw route add chat --path /v1 --nodes eu,us "$@" -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
}

chats() { # N [CURL OPTION...]: N chats, each must answer 200
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		chat gpt-4o -H "$AUTH" "$@"
		[ "$CODE" = 200 ] || fail "$i: $CODE $BODY"
	done
}

HEADER_ONLY='geo:
  region_header: X-Client-Region'

@test "geo: the region header sends a client to its own region's node" {
	geo_nodes "$HEADER_ONLY"
	chats 5 -H "X-Client-Region: eu-west"
	eventually 2000 code_is 5 log_rows "node = 'eu'"
	chats 3 -H "x-client-region: US-East"
	eventually 2000 code_is 3 log_rows "node = 'us'"
	[ "$(log_rows "node = 'eu'")" = 5 ] || fail "eu: $(log_rows "node = 'eu'")"
}

@test "geo: a near region is preferred over a far one" {
	geo_nodes "$HEADER_ONLY"
	chats 4 -H "X-Client-Region: eu-central"
	chats 4 -H "X-Client-Region: us-west"
	eventually 2000 code_is 4 log_rows "node = 'eu'"
	eventually 2000 code_is 4 log_rows "node = 'us'"
}

@test "geo: configured neighbours replace the default nearness" {
	geo_nodes "$HEADER_ONLY
  near:
    uk: [eu-west]
    eu-central: []"
	chats 4 -H "X-Client-Region: uk"
	eventually 2000 code_is 4 log_rows "node = 'eu'"
	# eu-central is near nothing now: both nodes are as far, both serve
	chats 4 -H "X-Client-Region: eu-central"
	eventually 2000 code_is 8 log_rows 1
	[ "$(log_rows "node = 'us'")" -ge 1 ] || fail "us never served eu-central"
}

@test "geo: without a region, or with an invalid one, the policy alone decides" {
	geo_nodes "$HEADER_ONLY"
	chats 4
	chats 4 -H "X-Client-Region: not a region!"
	eventually 2000 code_is 4 log_rows "node = 'eu'"
	eventually 2000 code_is 4 log_rows "node = 'us'"
}

@test "geo: the CIDR map gives the client's region; the header wins over it" {
	geo_nodes 'geo:
  region_header: X-Client-Region
  regions:
    127.0.0.0/8: eu-west
    127.0.0.1/32: us-east
    "::1": eu-west'
	chats 4
	eventually 2000 code_is 4 log_rows "node = 'us'"
	chats 3 -H "X-Client-Region: eu-west"
	eventually 2000 code_is 3 log_rows "node = 'eu'"
	[ "$(log_rows "node = 'us'")" = 4 ] || fail "us: $(log_rows "node = 'us'")"
}

@test "geo: a full node spills its request to the next tier" {
	EU_OPTS="--latency 600ms" EU_NODE="--max-concurrency 1" geo_nodes "$HEADER_ONLY"
	base=$(metric aigw_requests_in_flight) # (the scrape counts itself)
	curl -sS --max-time 10 -o "$TEST_DIR/first" -w '%{http_code}' -H "$AUTH" \
		-H "X-Client-Region: eu-west" "$URL/v1/chat/completions" \
		-d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' \
		>"$TEST_DIR/first.code" 3>&- &
	BG_PIDS+=("$!")
	eventually 2000 in_flight_is $((base + 1))
	chats 2 -H "X-Client-Region: eu-west"
	eventually 2000 code_is 2 log_rows "node = 'us'"
	wait "${BG_PIDS[0]}"
	[ "$(cat "$TEST_DIR/first.code")" = 200 ] || fail "first: $(cat "$TEST_DIR/first.code")"
	eventually 2000 code_is 1 log_rows "node = 'eu'"
}

@test "geo: a slow node spills to the next tier" {
	EU_OPTS="--latency 400ms" geo_nodes "$HEADER_ONLY"
	# us-east clients give us a fast estimate, an eu-west one eu a slow one
	chats 3 -H "X-Client-Region: us-east"
	chats 1 -H "X-Client-Region: eu-west"
	eventually 2000 code_is 1 log_rows "node = 'eu'"
	# eu is now more than 3x slower than us: eu-west spills to us-east
	chats 3 -H "X-Client-Region: eu-west"
	eventually 2000 code_is 6 log_rows "node = 'us'"
	[ "$(log_rows "node = 'eu'")" = 1 ] || fail "eu: $(log_rows "node = 'eu'")"
}

@test "geo: a slow node keeps its clients when the factor allows it" {
	EU_OPTS="--latency 400ms" US_OPTS="--latency 100ms" geo_nodes "$HEADER_ONLY
  spill_latency_factor: 6"
	chats 3 -H "X-Client-Region: us-east"
	chats 3 -H "X-Client-Region: eu-west"
	eventually 2000 code_is 3 log_rows "node = 'eu'"
}

@test "geo: a node that is down spills to the next tier" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	printf '%s\n' "$HEADER_ONLY" >aigw.yaml
	aigw nodes add eu --url "http://127.0.0.1:$port/v1" --provider openai --region eu-west -q >/dev/null
	start_mock
	aigw nodes add us --url "$MOCK_URL" --provider openai --region us-east -q >/dev/null
	aigw route add chat --path /v1 --nodes eu,us --retries 1 -q >/dev/null
	KEY=$(aigw keys create --name t -q)
	AUTH="Authorization: Bearer $KEY"
	start_serve
	# Retries go to the next tier; once the breaker opens, the first try does.
	chats 8 -H "X-Client-Region: eu-west"
	eventually 2000 code_is 8 log_rows "node = 'us' and status = 200"
}

@test "geo: bad geo configuration is refused with its line" {
	local bad
	for bad in 'geo:
  regions:
    10.1.2.0/16: eu-west' 'geo:
  regions:
    10.0.0.0/33: eu-west' 'geo:
  regions:
    10.0.0.0/8: "eu west"' 'geo:
  near:
    eu-west: [eu central]' 'geo:
  region_header: "X Region"' 'geo:
  spill_latency_factor: 0' 'geo:
  regoins: {}'; do
		printf '%s\n' "$bad" >bad.yaml
		run_aigw route check --config bad.yaml
		assert_status 4
		[[ $stderr =~ ^"aigw route: bad.yaml:"[23]:[0-9]+": geo." ]] || fail "route check: $stderr"
		run_aigw serve --config bad.yaml --listen 127.0.0.1:0
		assert_status 4
		[[ $stderr =~ "bad.yaml:"[23]:[0-9]+": geo." ]] || fail "serve: $stderr"
	done
	run_aigw route check --config bad.yaml
	[[ $stderr == *"unknown directive 'regoins' (did you mean 'regions'?)"* ]] || fail "$stderr"
	printf 'geo:\n  regions:\n    10.1.2.0/16: eu-west\n' >bad.yaml
	run_aigw route check --config bad.yaml
	[[ $stderr == *"'10.1.2.0/16' has address bits set past its length (did you mean 10.1.0.0/16?)"* ]] ||
		fail "$stderr"
}
