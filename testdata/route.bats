#!/usr/bin/env bats
# aigw route: add, list, show, rm, test, check.
bats_require_minimum_version 1.5.0
load helpers

@test "add with every option; show and --json reflect them" {
	make_nodes
	run_aigw route add chat --path /v1/chat/completions --method POST \
		--model 'gpt-*' --nodes a,b --nodes c --policy weighted --retries 2 --timeout 30s \
		--connect-timeout 2s --first-byte-timeout 20s --idle-timeout 1m \
		-H 'X-Tenant: acme' --header 'X-Beta: 1'
	assert_status 0
	assert_stderr "aigw route: added route 'chat'"
	assert_stdout_empty
	aigw route add spare --path /spare --nodes a -q >/dev/null
	run_aigw route add fb --path /v1/fb --nodes a --fallback spare --json
	assert_ok
	jq -e '.fallback == "spare" and .policy == "round_robin" and .retries == 0 and .timeout == null
		and .connect_timeout == null and .first_byte_timeout == null and .idle_timeout == null
		and .method == null and .model == null and .headers == []' <<<"$output" >/dev/null || fail "$output"

	run_aigw route show chat --json
	assert_ok
	jq -e '.name == "chat" and .path == "/v1/chat/completions" and .method == "POST"
		and .model == "gpt-*" and .nodes == ["a","b","c"] and .policy == "weighted"
		and .retries == 2 and .timeout == "30s" and .connect_timeout == "2s"
		and .first_byte_timeout == "20s" and .idle_timeout == "1m" and .fallback == null
		and .headers == ["X-Tenant: acme","X-Beta: 1"] and .source == "db"' <<<"$output" >/dev/null ||
		fail "$output"

	run_aigw route show chat
	assert_ok
	grep -Eq '^name +chat$' <<<"$output"
	grep -Eq '^path +/v1/chat/completions$' <<<"$output"
	grep -Eq '^method +POST$' <<<"$output"
	grep -Eq '^model +gpt-\*$' <<<"$output"
	grep -Eq '^headers +X-Tenant: acme; X-Beta: 1$' <<<"$output"
	grep -Eq '^nodes +a,b,c$' <<<"$output"
	grep -Eq '^policy +weighted$' <<<"$output"
	grep -Eq '^retries +2$' <<<"$output"
	grep -Eq '^timeout +30s$' <<<"$output"
	grep -Eq '^connect_timeout +2s$' <<<"$output"
	grep -Eq '^first_byte_timeout +20s$' <<<"$output"
	grep -Eq '^idle_timeout +1m$' <<<"$output"
	grep -Eq '^fallback +-$' <<<"$output"
	grep -Eq '^source +database$' <<<"$output"
	run_aigw route show fb
	grep -Eq '^fallback +spare$' <<<"$output"
	grep -Eq '^method +any$' <<<"$output"
	grep -Eq '^model +any$' <<<"$output"
	grep -Eq '^timeout +server default$' <<<"$output"
	grep -Eq '^connect_timeout +default \(10s\)$' <<<"$output"
	grep -Eq '^first_byte_timeout +none$' <<<"$output"
	grep -Eq '^idle_timeout +none$' <<<"$output"
	run_aigw route show chat -q
	assert_ok
	assert_stdout chat
}

@test "list: table, --json lines, -q names" {
	make_nodes
	aigw route add chat --path /v1/chat/completions --model 'gpt-*' --nodes a,b --retries 2 -q >/dev/null
	aigw route add catchall --path / --nodes a -q >/dev/null
	aigw route add fb --path /v1/fb --nodes c --fallback catchall --method GET -q >/dev/null
	run_aigw route list
	assert_ok
	assert_lines 4 "$output"
	[[ "${lines[0]}" =~ ^NAME\ +PATH\ +METHOD\ +MODEL\ +NODES\ +POLICY\ +RETRIES\ +FALLBACK\ +SOURCE$ ]] || fail "${lines[0]}"
	[[ "${lines[1]}" =~ ^catchall\ +/\ +any\ +any\ +a\ +round_robin\ +0\ +-\ +db$ ]] || fail "${lines[1]}"
	[[ "${lines[2]}" =~ ^chat\ +/v1/chat/completions\ +any\ +gpt-\*\ +a,b\ +round_robin\ +2\ +-\ +db$ ]] || fail "${lines[2]}"
	[[ "${lines[3]}" =~ ^fb\ +/v1/fb\ +GET\ +any\ +c\ +round_robin\ +0\ +catchall\ +db$ ]] || fail "${lines[3]}"
	run_aigw route list --json
	assert_ok
	assert_lines 3 "$output"
	assert_json_lines
	[ "$(jq -r .name <<<"$output" | tr '\n' ,)" = "catchall,chat,fb," ]
	run_aigw route list -q
	assert_ok
	assert_stdout $'catchall\nchat\nfb'
}

@test "show of a missing route: exit 3" {
	run_aigw route show nope
	assert_fail 3 "aigw route: no route named 'nope'"
	assert_no_db
}

@test "rm removes a route; refused when another falls back to it" {
	make_nodes
	aigw route add catchall --path / --nodes a -q >/dev/null
	aigw route add fb --path /v1/fb --nodes a --fallback catchall -q >/dev/null
	snapshot_db
	run_aigw route rm catchall
	assert_fail 1 "aigw route: route 'catchall' is the fallback of route 'fb'"
	run_aigw route rm nope
	assert_fail 3 "aigw route: no route named 'nope'"
	assert_db_unchanged
	run_aigw route rm fb
	assert_status 0
	assert_stderr "aigw route: removed route 'fb'"
	run_aigw route rm catchall -q
	assert_ok
	run_aigw route list
	assert_ok
	assert_stdout_empty
	# the nodes are free to go now
	run_aigw nodes rm a -q
	assert_ok
}

@test "add: unknown node or fallback is not found (exit 3), nothing written" {
	make_nodes
	aigw route add base --path /base --nodes a -q >/dev/null
	snapshot_db
	run_aigw route add x --path /x --nodes a,nope
	assert_fail 3 "aigw route: no node named 'nope'"
	run_aigw route add x --path /x --nodes a --fallback nope
	assert_fail 3 "aigw route: no route named 'nope' to fall back to"
	assert_db_unchanged
}

@test "add: a taken name fails" {
	make_nodes
	aigw route add chat --path /v1/chat --nodes a -q >/dev/null
	snapshot_db
	run_aigw route add chat --path /y --nodes a
	assert_fail 1 "aigw route: a route named 'chat' already exists"
	assert_db_unchanged
}

@test "add: a fallback to itself or one closing a cycle is refused" {
	fixture conf-fallback-to-new.yaml conf.yaml
	aigw nodes add a --url http://h --provider openai -q >/dev/null
	snapshot_db
	run_aigw route add self --path /self --nodes a --fallback self
	assert_fail 2 "aigw route: fallback 'self' names the route itself"
	run_aigw route add newr --path /newr --nodes n1 --fallback y --config conf.yaml
	assert_fail 1 "aigw route: fallback to 'y' would make a cycle"
	assert_db_unchanged
	# without the fallback back, it is fine (and completes the YAML route's)
	run_aigw route add newr --path /newr --nodes n1 --config conf.yaml -q
	assert_ok
	run_aigw route check --config conf.yaml
	assert_status 0
	assert_stderr "aigw route: ok: 2 nodes, 2 routes, no problems"
}

@test "add: a route that ties with another is refused" {
	make_nodes
	aigw route add chat --path /v1/chat/completions --model 'gpt-*' --nodes a -q >/dev/null
	aigw route add g4 --path /v1/chat/completions --model 'gpt-4?' --nodes a -q >/dev/null
	snapshot_db
	run_aigw route add chat2 --path /v1/chat/completions --model 'gpt-?' --nodes a
	assert_fail 1 "aigw route: route 'chat2' would tie with route 'chat': same path, method and headers, and equally specific models that overlap"
	run_aigw route add g4b --path /v1/chat/completions --model 'gpt-?o' --nodes a
	assert_fail 1 "aigw route: route 'g4b' would tie with route 'g4': same path, method and headers, and equally specific models that overlap"
	assert_db_unchanged
	# not ties: more literal characters, no overlap, a method, other headers
	run_aigw route add mini --path /v1/chat/completions --model '*-mini' --nodes a -q
	assert_ok
	run_aigw route add x4 --path /v1/chat/completions --model 'gpt-4x' --nodes a -q
	assert_ok
	run_aigw route add post --path /v1/chat/completions --model 'gpt-*' --method POST --nodes a -q
	assert_ok
	aigw route add t1 --path /t --nodes a -H 'X-Tenant: acme' -q >/dev/null
	run_aigw route add t2 --path /t --nodes a -H 'X-Beta: 1' -q
	assert_ok
	# header names compare without case, in any order
	aigw route add h2 --path /h --nodes a -H 'A: 1' -H 'B: 2' -q >/dev/null
	run_aigw route add h2b --path /h --nodes a -H 'b: 2' -H 'a: 1'
	assert_fail 1 "aigw route: route 'h2b' would tie with route 'h2': same path, method and headers, and equally specific models that overlap"
}

@test "add: bad values are usage errors and write nothing" {
	make_nodes
	snapshot_db
	run_aigw route add x --path x --nodes a
	assert_fail 2 "aigw route: path 'x' must start with '/'"
	run_aigw route add x --path '/x?q' --nodes a
	assert_fail 2 "aigw route: path '/x?q' must not contain '?' (routes match the path without query or fragment)"
	run_aigw route add x --path '/a b' --nodes a
	assert_fail 2 "aigw route: path '/a b' has a space, control or non-ASCII character (percent-encode it)"
	run_aigw route add x --path /../x --nodes a
	assert_fail 2 "aigw route: path '/../x' has a '..' segment"
	run_aigw route add x --path /x --nodes a --retries 11
	assert_fail 2 "aigw route: --retries: 11 is out of range (0..10)"
	run_aigw route add x --path /x --nodes a --policy bogus
	assert_fail 2 "aigw route: --policy: unknown policy 'bogus' (choose from round_robin, weighted, least_conn, p2c, peak_ewma, adaptive)"
	run_aigw route add x --path /x --nodes a --timeout 5
	assert_fail 2 "aigw route: --timeout: '5' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)"
	run_aigw route add x --path /x --nodes a --timeout 2d
	assert_status 2
	assert_stderr_match "^aigw route: timeout .* is out of range"
	run_aigw route add x --path /x --nodes a --connect-timeout 5
	assert_fail 2 "aigw route: --connect-timeout: '5' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)"
	run_aigw route add x --path /x --nodes a --first-byte-timeout=-1s
	assert_fail 2 "aigw route: --first-byte-timeout: '-1s' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)"
	run_aigw route add x --path /x --nodes a --idle-timeout soon
	assert_fail 2 "aigw route: --idle-timeout: 'soon' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)"
	run_aigw route add x --path /x --nodes a --connect-timeout 25h
	assert_fail 2 "aigw route: connect_timeout 1d1h is out of range (0..24h, 0 = 10s)"
	run_aigw route add x --path /x --nodes a --first-byte-timeout 2d
	assert_fail 2 "aigw route: first_byte_timeout 2d is out of range (0..24h, 0 = no limit)"
	run_aigw route add x --path /x --nodes a --idle-timeout 1d1ms
	assert_fail 2 "aigw route: idle_timeout 1d1ms is out of range (0..24h, 0 = no limit)"
	run_aigw route add x --path /x --nodes a --method get
	assert_fail 2 "aigw route: method 'get' must be an uppercase HTTP method such as POST (1-16 of A-Z)"
	run_aigw route add x --path /x --nodes a -H nocolon
	assert_fail 2 "aigw route: header condition 'nocolon' must be 'Name: value'"
	run_aigw route add x --path /x --nodes a -H 'A: 1' -H 'a: 2'
	assert_fail 2 "aigw route: header 'a' is given twice"
	run_aigw route add x --path /x --nodes a -H A:1 -H B:1 -H C:1 -H D:1 -H E:1 -H F:1 -H G:1 -H H:1 -H I:1
	assert_fail 2 "aigw route: too many header conditions (9, at most 8)"
	run_aigw route add x --path /x --nodes a --model 'a b'
	assert_fail 2 "aigw route: model: pattern 'a b' has a space, comma or control character"
	run_aigw route add 'bad name' --path /x --nodes a
	assert_fail 2 "aigw route: invalid route name 'bad name' (1-64 of A-Z a-z 0-9 . _ -, not all digits)"
	run_aigw route add x --path /x --nodes a,a
	assert_fail 2 "aigw route: node 'a' is listed twice in nodes"
	run_aigw route add x --path /x --nodes ''
	assert_fail 2 "aigw route: route 'x' names no node"
	assert_db_unchanged
}

@test "a YAML route is listed with its source and cannot be removed" {
	fixture conf-static.yaml conf.yaml
	run_aigw route list --config conf.yaml
	assert_ok
	[[ "${lines[1]}" =~ ^chat\ +/v1/chat/completions\ +any\ +gpt-\*\ +openai-main\ +round_robin\ +2\ +local-chat\ +yaml$ ]] ||
		fail "${lines[1]}"
	run_aigw route show chat --config conf.yaml --json
	assert_ok
	jq -e '.source == "yaml" and .defined_at == "conf.yaml:16:5" and .timeout == "1m"
		and .fallback == "local-chat"' <<<"$output" >/dev/null || fail "$output"
	run_aigw route rm chat --config conf.yaml
	assert_fail 1 "aigw route: route 'chat' is defined in conf.yaml:16:5; change it there"
	assert_no_db
}

# ---------------------------------------------------------------- test

# Routes for the matching tests: a, b (standby), c (llama* only), d (disabled).
matching_setup() {
	make_nodes
	aigw nodes add d --url http://127.0.0.1:9004 --provider openai -q >/dev/null
	aigw nodes disable d -q >/dev/null
	aigw route add gpt --path /v1/chat --model 'gpt-*' --nodes a,b,c,d -q >/dev/null
	aigw route add gpt4 --path /v1/chat --model 'gpt-4*' --nodes b -q >/dev/null
	aigw route add post --path /v1/chat --method POST --nodes a -q >/dev/null
	aigw route add acme --path /v1/chat --nodes a -H 'X-Tenant: acme' -q >/dev/null
	aigw route add emb --path /v1/embeddings/ --nodes a -q >/dev/null
}

@test "test: human output names the route, why, and the candidates in order" {
	matching_setup
	run_aigw route test POST /v1/chat/completions --model gpt-3.5
	assert_ok
	local want
	want=$(
		cat <<-'EOF'
			route      gpt (database)
			because    path prefix '/v1/chat', model glob 'gpt-*', any method
			policy     round_robin
			live       no live state (serve not running?): static facts only
			pick       a
			candidates
			  1. a                        active; score 1 (round robin)  <- picked
			  2. b                        standby; in reserve while an active node can take the request
			  -  c                        not eligible: does not serve model
			  -  d                        not eligible: disabled
			not acme                     header does not match
			not emb                      path does not match
			not gpt4                     model does not match
			not post                     matched but is less specific
		EOF
	)
	assert_stdout "$want"
}

@test "test --json: route, candidates and every route's verdict" {
	matching_setup
	aigw nodes drain a -q >/dev/null
	run_aigw route test post /v1/chat --model gpt-3.5 --json
	assert_ok
	assert_lines 1 "$output"
	jq -e '.method == "POST" and .path == "/v1/chat" and .model == "gpt-3.5" and .route == "gpt"
		and .policy == "round_robin"
		and .candidates == [
			{"node":"b","eligible":true,"reason":"standby","live":null,"score":1,
			 "score_reason":"round robin","picked":true},
			{"node":"a","eligible":false,"reason":"draining","live":null,"score":null,
			 "score_reason":null,"picked":false},
			{"node":"c","eligible":false,"reason":"does not serve model","live":null,
			 "score":null,"score_reason":null,"picked":false},
			{"node":"d","eligible":false,"reason":"disabled","live":null,"score":null,
			 "score_reason":null,"picked":false}]
		and .live == false and .pick == "b"' <<<"$output" >/dev/null || fail "$output"
	jq -e '[.routes[] | {(.name): .verdict}] | add == {
		"acme":"header does not match", "emb":"path does not match", "gpt":"chosen",
		"gpt4":"model does not match", "post":"matched, less specific"}' <<<"$output" >/dev/null ||
		fail "$output"
}

@test "test -q: model globs, method, headers, path boundaries" {
	matching_setup
	t() { # expected, then the request
		local want=$1
		shift
		run_aigw route test "$@" -q
		assert_ok || return 1
		assert_stdout "$want"
	}
	t gpt4 POST /v1/chat/completions --model gpt-4o       # more literal characters win
	t gpt GET /v1/chat --model gpt-3.5-turbo
	t post POST /v1/chat/completions --model llama3      # no model glob matches
	t post POST /v1/chat                                 # no model at all
	t acme GET /v1/chat -H 'x-tenant: acme'              # header name without case
	t acme GET /v1/chat -H 'X-TENANT:   acme  '          # value trimmed
	t acme GET /v1/chat/x -H 'X-Tenant: acme' -H 'X-Other: 1'
	t post POST '/v1/chat?x=1'                           # query string takes no part
	t post POST '/v1/chat#frag'
	t post POST /v1/chat/                                # segment boundary
	t emb GET /v1/embeddings/x                           # prefix ending in /
	t emb get /v1/embeddings/x                           # method is uppercased
}

@test "test: no match exits 3 and names the request" {
	matching_setup
	run_aigw route test GET /v1/chat
	assert_fail 3 "aigw route: no route matches GET /v1/chat"
	run_aigw route test GET /v1/chat -H 'X-Tenant: ACME'
	assert_fail 3 "aigw route: no route matches GET /v1/chat"
	run_aigw route test POST /v1/chatter
	assert_fail 3 "aigw route: no route matches POST /v1/chatter"
	run_aigw route test GET /v1/embeddings --model x -q
	assert_fail 3 "aigw route: no route matches GET /v1/embeddings with model x"
	run_aigw route test GET /V1/chat --model gpt-4
	assert_fail 3 "aigw route: no route matches GET /V1/chat with model gpt-4"
	# --json still prints the verdicts, with a null route
	run_aigw route test GET /v1/embeddings --json
	assert_status 3
	assert_stderr "aigw route: no route matches GET /v1/embeddings"
	jq -e '.route == null and .candidates == [] and (.routes | length) == 5
		and all(.routes[]; .verdict == "path does not match")' <<<"$output" >/dev/null || fail "$output"
}

@test "test: with no routes at all" {
	run_aigw route test GET /
	assert_fail 3 "aigw route: no route matches GET /"
	assert_no_db
}

@test "test: bad method, path or header are usage errors" {
	run_aigw route test GET x
	assert_fail 2 "aigw route: path 'x' must start with '/'"
	run_aigw route test GET /x -H nocolon
	assert_fail 2 "aigw route: --header: 'nocolon' is not 'Name: value'"
	run_aigw route test 'G T' /x
	assert_fail 2 "aigw route: 'G T' is not an HTTP method"
	run_aigw route test '' /x
	assert_fail 2 "aigw route: '' is not an HTTP method"
	assert_no_db
}

@test "test: YAML and database routes together, YAML first on equal rank" {
	fixture conf-static.yaml aigw.yaml
	run_aigw route test POST /v1/chat/completions --model gpt-4o
	assert_ok
	[ "${lines[0]}" = "route      chat (aigw.yaml:16:5)" ] || fail "${lines[0]}"
	run_aigw route test POST /v1/chat/completions --model llama3.1 -q
	assert_ok
	assert_stdout local-chat
	aigw nodes add x --url http://h --provider openai -q >/dev/null
	aigw route add beta --path /v1/chat/completions --nodes x -H 'X-Beta: 1' -q >/dev/null
	aigw route add tenant --path /v1/chat/completions --nodes x -H 'X-Tenant: acme' -q >/dev/null
	run_aigw route test POST /v1/chat/completions -H 'X-Tenant: acme' -H 'X-Beta: 1' -q
	assert_ok
	assert_stdout beta
}

# ---------------------------------------------------------------- check

@test "check: a clean configuration exits 0" {
	make_nodes
	aigw route add chat --path /v1/chat --nodes a,b -q >/dev/null
	run_aigw route check
	assert_status 0
	assert_stderr "aigw route: ok: 3 nodes, 1 route, no problems"
	assert_stdout_empty
	run_aigw route check -q
	assert_ok
	assert_stdout_empty
	run_aigw route check --json
	assert_ok
	assert_stdout '{"ok":true,"nodes":3,"routes":1,"problems":[]}'
}

@test "check: a route with no enabled node" {
	make_nodes
	aigw route add chat --path /v1/chat --nodes a,c -q >/dev/null
	aigw route add catchall --path / --nodes b -q >/dev/null
	aigw nodes disable a -q >/dev/null
	aigw nodes drain c -q >/dev/null
	snapshot_db
	run_aigw route check
	assert_fail 1 "aigw route: route 'chat' has no enabled node"
	run_aigw route check --json
	assert_status 1
	assert_stdout '{"ok":false,"nodes":3,"routes":2,"problems":["route '"'chat'"' has no enabled node"]}'
	assert_db_unchanged
	fixture check-no-enabled.yaml conf.yaml
	aigw nodes enable a -q >/dev/null
	run_aigw route check --config conf.yaml
	assert_fail 1 "aigw route: route 'dark' has no enabled node"
}

@test "check: a name defined in YAML and in the database" {
	aigw nodes add a --url http://h --provider openai -q >/dev/null
	aigw nodes add shared --url http://h --provider openai -q >/dev/null
	aigw route add shared-route --path /sr --nodes a -q >/dev/null
	fixture check-dup-node.yaml
	fixture check-dup-route.yaml
	run_aigw route check --config check-dup-node.yaml
	assert_fail 1 "aigw route: node 'shared' is defined both in check-dup-node.yaml:2:5 and in the database"
	run_aigw route check --config check-dup-route.yaml
	assert_fail 1 "aigw route: route 'shared-route' is defined both in check-dup-route.yaml:2:5 and in the database"
}

@test "check: unknown node, unknown fallback, fallback cycle" {
	aigw nodes add a --url http://h --provider openai -q >/dev/null
	fixture check-unknown-node.yaml
	fixture check-unknown-fallback.yaml
	fixture check-cycle.yaml
	run_aigw route check --config check-unknown-node.yaml
	assert_fail 1 "aigw route: route 'haunted' names unknown node 'ghost'"
	run_aigw route check --config check-unknown-fallback.yaml
	assert_fail 1 "aigw route: route 'lost' falls back to unknown route 'nowhere'"
	run_aigw route check --config check-cycle.yaml
	assert_fail 1 "aigw route: fallback cycle: p -> q -> p"
}

@test "check: routes that tie (YAML against the database)" {
	aigw nodes add a --url http://h --provider openai -q >/dev/null
	aigw route add dbtie --path /v1/chat/completions --model 'gpt-4?' --nodes a -q >/dev/null
	fixture check-tie.yaml
	run_aigw route check --config check-tie.yaml
	assert_fail 1 "aigw route: routes 'ytie' and 'dbtie' tie (same path, method, headers and equally specific overlapping models)"
}

@test "check: every problem at once, one per line" {
	aigw nodes add shared --url http://h --provider openai -q >/dev/null
	aigw route add dbchat --path /v1/chat --nodes shared -q >/dev/null
	fixture check-all.yaml
	snapshot_db
	run_aigw route check --config check-all.yaml
	assert_status 1
	assert_stdout_empty
	local want
	want=$(
		cat <<-'EOF'
			aigw route: node 'shared' is defined both in check-all.yaml:4:5 and in the database
			aigw route: route 'haunted' names unknown node 'ghost'
			aigw route: route 'haunted' has no enabled node
			aigw route: route 'lost' falls back to unknown route 'nowhere'
			aigw route: fallback cycle: p -> q -> p
			aigw route: route 'dark' has no enabled node
			aigw route: routes 'ytie' and 'dbchat' tie (same path, method, headers and equally specific overlapping models)
		EOF
	)
	[ "$(sort <<<"$stderr")" = "$(sort <<<"$want")" ] || fail "stderr: $stderr"
	run_aigw route check --config check-all.yaml --json
	assert_status 1
	assert_stderr ""
	jq -e '.ok == false and (.problems | length) == 7' <<<"$output" >/dev/null || fail "$output"
	assert_db_unchanged
}

@test "models: what the nodes serve (names, globs, any) and the aliases of aigw.yaml" {
	aigw nodes add a --url http://127.0.0.1:1/v1 --provider openai --models gpt-4o,gpt-4o-mini -q
	aigw nodes add b --url http://127.0.0.1:1 --provider anthropic --models 'claude-*' -q
	aigw nodes add c --url http://127.0.0.1:1 --provider ollama -q
	aigw nodes disable c
	printf 'aliases:\n  fast: [claude-3-5-haiku, gpt-4o-mini]\n  gone: [nothing]\n' >"$TEST_DIR/aigw.yaml"
	export AIGW_CONFIG="$TEST_DIR/aigw.yaml"
	run_aigw route models --json
	assert_ok
	assert_json_lines
	[ "$(wc -l <<<"$output")" = 6 ]
	[ "$(jq -c 'select(.model == "gpt-4o") | [.kind, .nodes, .enabled_nodes]' <<<"$output")" = '["model",["a","c"],1]' ]
	[ "$(jq -c 'select(.model == "claude-*") | [.kind, .nodes]' <<<"$output")" = '["glob",["b"]]' ]
	[ "$(jq -c 'select(.model == "*") | [.kind, .nodes, .enabled_nodes]' <<<"$output")" = '["glob",["c"],0]' ]
	[ "$(jq -c 'select(.model == "fast") | [.kind, .targets, .resolves_to]' <<<"$output")" = '["alias",["claude-3-5-haiku","gpt-4o-mini"],"claude-3-5-haiku"]' ]
	[ "$(jq -c 'select(.model == "gone") | .resolves_to' <<<"$output")" = null ]
	run_aigw route models -q
	assert_stdout "$(printf 'gpt-4o\ngpt-4o-mini\nclaude-*\n*\nfast\ngone')"
	run_aigw route models
	assert_ok
	[[ $output == *"MODEL"*"AVAILABLE"* && $output == *"fast"*"alias"* ]] || fail "$output"
}
