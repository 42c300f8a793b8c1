#!/usr/bin/env bats
# aigw nodes: add, list, show, update, enable/disable/drain, rm, import.
bats_require_minimum_version 1.5.0
load helpers

@test "add with every option; show and --json reflect them" {
	run_aigw nodes add local --url http://127.0.0.1:11434 --provider ollama \
		--type edge --region eu-west --weight 5 --models 'llama3*' --models qwen2 \
		--api-key-env OLLAMA_KEY --max-concurrency 8 --standby
	assert_status 0
	assert_stderr "aigw nodes: added node 'local'"
	assert_stdout_empty

	run_aigw nodes show local --json
	assert_ok
	jq -e '.name == "local" and .url == "http://127.0.0.1:11434" and .provider == "ollama"
		and .type == "edge" and .region == "eu-west" and .weight == 5
		and .models == ["llama3*","qwen2"] and .api_key_env == "OLLAMA_KEY"
		and .max_concurrency == 8 and .standby == true and .state == "enabled"
		and .source == "db" and (has("defined_at") | not)' <<<"$output" >/dev/null || fail "$output"

	run_aigw nodes show local
	assert_ok
	grep -Eq '^name +local$' <<<"$output"
	grep -Eq '^url +http://127\.0\.0\.1:11434$' <<<"$output"
	grep -Eq '^provider +ollama$' <<<"$output"
	grep -Eq '^type +edge$' <<<"$output"
	grep -Eq '^region +eu-west$' <<<"$output"
	grep -Eq '^weight +5$' <<<"$output"
	grep -Eq '^models +llama3\*,qwen2$' <<<"$output"
	grep -Eq '^api key env +OLLAMA_KEY$' <<<"$output"
	grep -Eq '^concurrency +8$' <<<"$output"
	grep -Eq '^standby +yes$' <<<"$output"
	grep -Eq '^state +enabled$' <<<"$output"
	grep -Eq '^source +database$' <<<"$output"
}

@test "add with defaults; --json and -q print the node" {
	run_aigw nodes add oai --url https://api.openai.com/v1 --provider openai --json
	assert_ok
	jq -e '.type == "cloud" and .region == null and .weight == 1 and .models == []
		and .api_key_env == null and .max_concurrency == 0 and .standby == false
		and .state == "enabled"' <<<"$output" >/dev/null || fail "$output"
	run_aigw nodes add oai2 --url https://api.openai.com/v1 --provider openai -q
	assert_ok
	assert_stdout oai2
	run_aigw nodes show oai
	grep -Eq '^models +any$' <<<"$output"
	grep -Eq '^concurrency +unlimited$' <<<"$output"
	grep -Eq '^region +-$' <<<"$output"
	grep -Eq '^api key env +-$' <<<"$output"
}

@test "every provider and type is accepted" {
	local p t
	for p in openai openai-compatible anthropic gemini ollama azure http; do
		run_aigw nodes add "p-$p" --url http://127.0.0.1:9000 --provider "$p" --json
		assert_ok
		[ "$(jq -r .provider <<<"$output")" = "$p" ]
	done
	for t in cloud edge mobile validator; do
		run_aigw nodes add "t-$t" --url http://127.0.0.1:9000 --provider http --type "$t" --json
		assert_ok
		[ "$(jq -r .type <<<"$output")" = "$t" ]
	done
	[ "$(aigw nodes list -q | wc -l)" -eq 11 ]
}

@test "list: table, --json lines, -q names" {
	make_nodes
	run_aigw nodes list
	assert_ok
	assert_lines 4 "$output"
	[[ "${lines[0]}" =~ ^NAME\ +PROVIDER\ +TYPE\ +REGION\ +STATE\ +WEIGHT\ +MODELS\ +URL\ +SOURCE$ ]] || fail "${lines[0]}"
	[[ "${lines[1]}" =~ ^a\ +openai-compatible\ +cloud\ +-\ +enabled\ +1\ +any\ +http://127\.0\.0\.1:9001\ +db$ ]] || fail "${lines[1]}"
	[[ "${lines[2]}" =~ ^b\ +openai-compatible\ +cloud\ +-\ +enabled,standby\ +1\ +any\ + ]] || fail "${lines[2]}"
	[[ "${lines[3]}" =~ ^c\ +ollama\ +cloud\ +-\ +enabled\ +1\ +llama\*\ + ]] || fail "${lines[3]}"
	run_aigw nodes list --json
	assert_ok
	assert_lines 3 "$output"
	assert_json_lines
	[ "$(jq -r .name <<<"$output" | tr '\n' ,)" = "a,b,c," ]
	run_aigw nodes list -q
	assert_ok
	assert_stdout $'a\nb\nc'
}

@test "show of a missing node: exit 3" {
	make_nodes
	run_aigw nodes show nope
	assert_fail 3 "aigw nodes: no node named 'nope'"
}

@test "update: each option, and --no-standby" {
	aigw nodes add n --url http://127.0.0.1:1 --provider openai --standby --region eu --api-key-env K -q >/dev/null
	run_aigw nodes update n --url https://example.com/v1
	assert_status 0
	assert_stderr "aigw nodes: node 'n' updated"
	run_aigw nodes update n --provider azure --type mobile --weight 1000 \
		--max-concurrency 1000000 --models 'gpt-*,o1' --json
	assert_ok
	jq -e '.url == "https://example.com/v1" and .provider == "azure" and .type == "mobile"
		and .weight == 1000 and .max_concurrency == 1000000 and .models == ["gpt-*","o1"]
		and .standby == true and .region == "eu" and .api_key_env == "K"' <<<"$output" >/dev/null ||
		fail "$output"
	# empty removes region and api key env; --no-standby turns standby off
	run_aigw nodes update n --region '' --api-key-env '' --no-standby --models '' --json
	assert_ok
	jq -e '.region == null and .api_key_env == null and .standby == false and .models == []' \
		<<<"$output" >/dev/null || fail "$output"
	run_aigw nodes update n --standby -q
	assert_ok
	assert_stdout n
	[ "$(aigw nodes show n --json | jq .standby)" = true ]
}

@test "update: nothing to update, missing node, bad values; nothing written" {
	make_nodes
	snapshot_db
	run_aigw nodes update a
	assert_fail 2 "aigw nodes: nothing to update (give at least one option)"
	run_aigw nodes update nope --weight 2
	assert_fail 3 "aigw nodes: no node named 'nope'"
	run_aigw nodes update a --weight 0
	assert_fail 2 "aigw nodes: --weight: 0 is out of range (1..1000)"
	run_aigw nodes update a --url ftp://x
	assert_fail 2 "aigw nodes: url 'ftp://x' must start with http:// or https://"
	run_aigw nodes update a --provider opnai
	assert_fail 2 "aigw nodes: --provider: unknown provider 'opnai' (did you mean 'openai'?)"
	run_aigw nodes update a --api-key-env 'NOT VALID'
	assert_fail 2 "aigw nodes: invalid environment variable name 'NOT VALID'"
	assert_db_unchanged
}

@test "enable, disable, drain: states" {
	make_nodes
	run_aigw nodes drain a --json
	assert_ok
	[ "$(jq -r .state <<<"$output")" = draining ]
	run_aigw nodes list
	[[ "${lines[1]}" =~ ^a\ +[a-z-]+\ +cloud\ +-\ +draining\ + ]] || fail "${lines[1]}"
	run_aigw nodes disable a
	assert_status 0
	assert_stderr "aigw nodes: node 'a' disabled"
	[ "$(aigw nodes show a --json | jq -r .state)" = disabled ]
	run_aigw nodes show a
	grep -Eq '^state +disabled$' <<<"$output"
	run_aigw nodes enable a -q
	assert_ok
	assert_stdout a
	[ "$(aigw nodes show a --json | jq -r .state)" = enabled ]
	# standby is kept through state changes
	run_aigw nodes drain b --json
	jq -e '.state == "draining" and .standby == true' <<<"$output" >/dev/null
	run_aigw nodes drain nope
	assert_fail 3 "aigw nodes: no node named 'nope'"
	run_aigw nodes enable nope
	assert_fail 3 "aigw nodes: no node named 'nope'"
	run_aigw nodes disable nope
	assert_fail 3 "aigw nodes: no node named 'nope'"
}

@test "rm removes a node; refused while a route uses it" {
	make_nodes
	aigw route add r1 --path /v1 --nodes a,b -q >/dev/null
	snapshot_db
	run_aigw nodes rm a
	assert_fail 1 "aigw nodes: node 'a' is used by route 'r1'; remove it from the route first"
	assert_db_unchanged
	run_aigw nodes rm c
	assert_status 0
	assert_stderr "aigw nodes: removed node 'c'"
	run_aigw nodes show c
	assert_fail 3 "aigw nodes: no node named 'c'"
	run_aigw nodes rm c
	assert_fail 3 "aigw nodes: no node named 'c'"
	aigw route rm r1 2>/dev/null
	run_aigw nodes rm a -q
	assert_ok
	run_aigw nodes list -q
	assert_stdout b
}

@test "add: a taken name fails and writes nothing" {
	make_nodes
	snapshot_db
	run_aigw nodes add a --url http://127.0.0.1:1 --provider openai
	assert_fail 1 "aigw nodes: a node named 'a' already exists"
	assert_db_unchanged
}

@test "add: bad provider and type suggest the right one" {
	make_nodes
	snapshot_db
	run_aigw nodes add x --url http://h --provider opnai
	assert_fail 2 "aigw nodes: --provider: unknown provider 'opnai' (did you mean 'openai'?)"
	run_aigw nodes add x --url http://h --provider antropic
	assert_fail 2 "aigw nodes: --provider: unknown provider 'antropic' (did you mean 'anthropic'?)"
	run_aigw nodes add x --url http://h --provider OpenAI
	assert_status 2
	assert_stderr_match "^aigw nodes: --provider: unknown provider 'OpenAI'"
	run_aigw nodes add x --url http://h --provider openai --type cloudy
	assert_fail 2 "aigw nodes: --type: unknown node type 'cloudy' (did you mean 'cloud'?)"
	assert_db_unchanged
}

@test "add: malformed URLs refused" {
	make_nodes
	snapshot_db
	run_aigw nodes add x --provider openai --url ftp://x
	assert_fail 2 "aigw nodes: url 'ftp://x' must start with http:// or https://"
	run_aigw nodes add x --provider openai --url http://
	assert_fail 2 "aigw nodes: url 'http://' has no host"
	run_aigw nodes add x --provider openai --url http://h:0
	assert_fail 2 "aigw nodes: url 'http://h:0' has an invalid port (1..65535)"
	run_aigw nodes add x --provider openai --url http://h:99999
	assert_fail 2 "aigw nodes: url 'http://h:99999' has an invalid port (1..65535)"
	run_aigw nodes add x --provider openai --url http://user:pw@h
	assert_fail 2 "aigw nodes: url 'http://user:pw@h' must not carry credentials (use api_key_env)"
	run_aigw nodes add x --provider openai --url "http://a b"
	assert_fail 2 "aigw nodes: url 'http://a b' contains a space or control character"
	run_aigw nodes add x --provider openai --url ""
	assert_fail 2 "aigw nodes: url '' must start with http:// or https://"
	run_aigw nodes add x --provider openai --url example.com
	assert_fail 2 "aigw nodes: url 'example.com' must start with http:// or https://"
	assert_db_unchanged
	# the edges that are fine
	run_aigw nodes add p1 --provider openai --url http://h:1 -q
	assert_ok
	run_aigw nodes add p2 --provider openai --url https://h:65535/some/path -q
	assert_ok
	run_aigw nodes add p3 --provider openai --url 'http://[::1]:8080' -q
	assert_ok
}

@test "add: weight, concurrency, names and env names out of range" {
	make_nodes
	snapshot_db
	run_aigw nodes add x --url http://h --provider openai --weight 0
	assert_fail 2 "aigw nodes: --weight: 0 is out of range (1..1000)"
	run_aigw nodes add x --url http://h --provider openai --weight 1001
	assert_fail 2 "aigw nodes: --weight: 1001 is out of range (1..1000)"
	run_aigw nodes add x --url http://h --provider openai --weight many
	assert_fail 2 "aigw nodes: --weight: 'many' is not a number"
	run_aigw nodes add x --url http://h --provider openai --max-concurrency -1
	assert_status 2
	assert_stderr_match "^aigw nodes: --max-concurrency: -1 is out of range \(0\.\."
	run_aigw nodes add 'bad name' --url http://h --provider openai
	assert_fail 2 "aigw nodes: invalid node name 'bad name' (1-64 of A-Z a-z 0-9 . _ -, not all digits)"
	run_aigw nodes add 42 --url http://h --provider openai
	assert_fail 2 "aigw nodes: invalid node name '42' (1-64 of A-Z a-z 0-9 . _ -, not all digits)"
	run_aigw nodes add x --url http://h --provider openai --api-key-env 1BAD
	assert_fail 2 "aigw nodes: invalid environment variable name '1BAD'"
	run_aigw nodes add x --url http://h --provider openai --region 'us east'
	assert_fail 2 "aigw nodes: invalid region 'us east' (1-64 of A-Z a-z 0-9 . _ -)"
	run_aigw nodes add x --url http://h --provider openai --models 'a,,b'
	assert_fail 2 "aigw nodes: --models: empty item in list 'a,,b'"
	assert_db_unchanged
	run_aigw nodes add w1 --url http://h --provider openai --weight 1 -q
	assert_ok
	run_aigw nodes add w1000 --url http://h --provider openai --weight 1000 -q
	assert_ok
}

# ---------------------------------------------------------------- import

@test "import JSON lines from a file: comments and blank lines skipped" {
	fixture nodes.jsonl
	run_aigw nodes import nodes.jsonl
	assert_status 0
	assert_stderr "aigw nodes: imported 3 nodes (3 added, 0 updated)"
	assert_stdout_empty
	run_aigw nodes list -q
	assert_stdout $'claude\ngpu1\ngpu2'
	run_aigw nodes show gpu2 --json
	jq -e '.url == "http://127.0.0.1:8002/v1" and .type == "edge" and .weight == 3
		and .models == ["llama*","qwen*"] and .source == "db"' <<<"$output" >/dev/null || fail "$output"
	run_aigw nodes show claude --json
	jq -e '.provider == "anthropic" and .api_key_env == "ANTHROPIC_API_KEY" and .standby == true
		and .max_concurrency == 16' <<<"$output" >/dev/null || fail "$output"
	[ "$(aigw nodes show gpu1 --json | jq -r .region)" = eu ]
}

@test "import JSON lines from stdin, with and without -" {
	run_aigw nodes import - <"$FIXTURES/nodes.jsonl"
	assert_status 0
	assert_stderr "aigw nodes: imported 3 nodes (3 added, 0 updated)"
	printf '%s\n' '{"name":"gpu9","url":"http://127.0.0.1:8009","provider":"openai-compatible","region":"eu"}' >one.jsonl
	run_aigw nodes import --json <one.jsonl
	assert_ok
	assert_stdout '{"added":1,"updated":0}'
	[ "$(aigw nodes show gpu9 --json | jq -r '.provider + " " + .region')" = "openai-compatible eu" ]
}

@test "import YAML: a nodes: mapping from a file, a sequence from stdin" {
	fixture nodes.yaml
	run_aigw nodes import nodes.yaml
	assert_status 0
	assert_stderr "aigw nodes: imported 2 nodes (2 added, 0 updated)"
	run_aigw nodes show y1 --json
	jq -e '.provider == "gemini" and .type == "mobile" and .region == "ap-south"' <<<"$output" >/dev/null
	run_aigw nodes show y2 --json
	jq -e '.provider == "azure" and .models == ["gpt-4o","gpt-4o-mini"] and .weight == 10
		and .state == "disabled" and .api_key_env == "AZURE_KEY" and .source == "db"' \
		<<<"$output" >/dev/null || fail "$output"
	run_aigw nodes import - <"$FIXTURES/nodes-seq.yaml"
	assert_status 0
	assert_stderr "aigw nodes: imported 2 nodes (2 added, 0 updated)"
	run_aigw nodes show s1 --json
	jq -e '.provider == "ollama" and .type == "validator"' <<<"$output" >/dev/null
	[ "$(aigw nodes show s2 --json | jq .standby)" = true ]
	[ "$(aigw nodes list -q | wc -l)" -eq 4 ]
}

@test "import is all or nothing: a bad record on line 3 imports nothing" {
	make_nodes
	fixture nodes-bad-line3.jsonl
	snapshot_db
	run_aigw nodes import nodes-bad-line3.jsonl
	assert_fail 1 "aigw nodes: nodes-bad-line3.jsonl:3: url: url 'ftp://127.0.0.1' must start with http:// or https://"
	assert_db_unchanged
	run_aigw nodes list -q
	assert_stdout $'a\nb\nc'
	# the same from stdin names <stdin>
	run_aigw nodes import - <nodes-bad-line3.jsonl
	assert_fail 1 "aigw nodes: <stdin>:3: url: url 'ftp://127.0.0.1' must start with http:// or https://"
	assert_db_unchanged
}

@test "import: a bad YAML record names its line and column" {
	make_nodes
	fixture nodes-bad.yaml
	snapshot_db
	run_aigw nodes import nodes-bad.yaml
	assert_fail 1 "aigw nodes: nodes-bad.yaml:7:15: nodes[1].provider: unknown provider 'opnai' (did you mean 'openai'?)"
	assert_db_unchanged
	run_aigw nodes show fine
	assert_fail 3 "aigw nodes: no node named 'fine'"
}

@test "import: a name twice in the file" {
	make_nodes
	fixture nodes-dup.jsonl
	snapshot_db
	run_aigw nodes import nodes-dup.jsonl
	assert_fail 1 "aigw nodes: nodes-dup.jsonl:3: node 'twin' appears twice (first at line 1)"
	assert_db_unchanged
}

@test "import: an existing name fails without --replace, updates with it" {
	fixture nodes.jsonl
	fixture nodes-replace.jsonl
	aigw nodes import nodes.jsonl 2>/dev/null
	snapshot_db
	run_aigw nodes import nodes-replace.jsonl
	assert_fail 1 "aigw nodes: nodes-replace.jsonl:1: a node named 'gpu1' already exists (use --replace to update it)"
	assert_db_unchanged
	run_aigw nodes show fresh
	assert_status 3
	run_aigw nodes import nodes-replace.jsonl --replace
	assert_status 0
	assert_stderr "aigw nodes: imported 2 nodes (1 added, 1 updated)"
	run_aigw nodes show gpu1 --json
	jq -e '.url == "http://127.0.0.1:9001" and .region == "us-east" and .weight == 7' <<<"$output" >/dev/null ||
		fail "$output"
	[ "$(aigw nodes show fresh --json | jq -r .provider)" = http ]
	run_aigw nodes import --replace --json <nodes-replace.jsonl
	assert_ok
	assert_stdout '{"added":0,"updated":2}'
	[ "$(aigw nodes list -q | wc -l)" -eq 4 ]
}

@test "import: bad records of every kind; nothing written" {
	make_nodes
	snapshot_db
	run_aigw nodes import - <<<'{"name":"z","url":"http://h","provider":"opnai"}'
	assert_fail 1 "aigw nodes: <stdin>:1: provider: unknown provider 'opnai' (did you mean 'openai'?)"
	run_aigw nodes import - <<<'{"name":"z","url":"http://h","provider":"openai","wieght":3}'
	assert_fail 1 "aigw nodes: <stdin>:1: wieght: unknown directive 'wieght' (did you mean 'weight'?)"
	run_aigw nodes import - <<<'{"name":"z","url":"http://h"}'
	assert_fail 1 "aigw nodes: <stdin>:1: provider: required directive is missing"
	run_aigw nodes import - <<<'{"name":"z",'
	assert_fail 1 "aigw nodes: <stdin>:1: invalid JSON at byte 12"
	run_aigw nodes import - <<<'{"name":"z","url":"http://h","provider":"openai","weight":0}'
	assert_status 1
	assert_stderr_match "^aigw nodes: <stdin>:1: weight: "
	run_aigw nodes import - <<<'x: 1'
	assert_fail 1 "aigw nodes: <stdin>:1:1: x: unknown directive 'x' (an import file is a list of nodes, or a mapping with only 'nodes')"
	run_aigw nodes import - </dev/null
	assert_fail 1 "aigw nodes: <stdin>: no node records found"
	printf 'nodes:\n  - name: q\n    url: [\n' >broken.yaml
	run_aigw nodes import broken.yaml
	assert_status 1
	assert_stderr_match "^aigw nodes: broken\.yaml:[0-9]+:[0-9]+: yaml syntax error: "
	run_aigw nodes import missing.jsonl
	assert_fail 3 "aigw nodes: cannot read 'missing.jsonl': No such file or directory"
	assert_db_unchanged
}

@test "import: a file of JSON lines may start with a comment" {
	printf '# header\n\n{"name":"c1","url":"http://h","provider":"http"}\n' >c.jsonl
	run_aigw nodes import c.jsonl
	assert_status 0
	assert_stderr "aigw nodes: imported 1 node (1 added, 0 updated)"
}

# ---------------------------------------------------------------- YAML nodes

@test "a node from aigw.yaml is listed with its source and is read-only" {
	fixture conf-static.yaml conf.yaml
	aigw nodes add dbnode --url http://127.0.0.1:1 --provider openai -q >/dev/null
	run_aigw nodes list --config conf.yaml
	assert_ok
	[[ "${lines[1]}" =~ ^openai-main\ +openai\ +cloud\ +us-east\ +enabled\ +1\ +gpt-4o,gpt-4o-mini\ +https://api\.openai\.com/v1\ +yaml$ ]] ||
		fail "${lines[1]}"
	[[ "${lines[3]}" =~ ^dbnode\ .*\ db$ ]] || fail "${lines[3]}"
	run_aigw nodes show local --config conf.yaml --json
	assert_ok
	jq -e '.source == "yaml" and .defined_at == "conf.yaml:10:5" and .url == "http://127.0.0.1:11434"' \
		<<<"$output" >/dev/null || fail "$output"
	run_aigw nodes show openai-main --config conf.yaml
	grep -Eq '^source +conf\.yaml:4:5$' <<<"$output"
	grep -Eq '^api key env +OPENAI_API_KEY$' <<<"$output"

	snapshot_db
	run_aigw nodes rm local --config conf.yaml
	assert_fail 1 "aigw nodes: node 'local' is defined in conf.yaml:10:5; change it there"
	run_aigw nodes update local --weight 3 --config conf.yaml
	assert_fail 1 "aigw nodes: node 'local' is defined in conf.yaml:10:5; change it there"
	run_aigw nodes disable local --config conf.yaml
	assert_fail 1 "aigw nodes: node 'local' is defined in conf.yaml:10:5; change it there"
	run_aigw nodes drain openai-main --config conf.yaml
	assert_fail 1 "aigw nodes: node 'openai-main' is defined in conf.yaml:4:5; change it there"
	run_aigw nodes add local --url http://h --provider openai --config conf.yaml
	assert_fail 1 "aigw nodes: a node named 'local' is already defined in conf.yaml:10:5"
	run_aigw nodes import --config conf.yaml - <<<'{"name":"local","url":"http://h","provider":"openai"}'
	assert_fail 1 "aigw nodes: <stdin>:1: node 'local' is defined in conf.yaml:10:5"
	assert_db_unchanged
}

@test "aigw.yaml is found in the working directory and in XDG_CONFIG_HOME, \${VAR} expanded" {
	fixture conf-static.yaml aigw.yaml
	AIGW_TEST_OLLAMA_URL=http://10.1.2.3:4567 run_aigw nodes show local --json
	assert_ok
	jq -e '.url == "http://10.1.2.3:4567" and .defined_at == "aigw.yaml:10:5"' <<<"$output" >/dev/null ||
		fail "$output"
	rm aigw.yaml
	mkdir -p "$XDG_CONFIG_HOME/aigw"
	cp "$FIXTURES/conf-static.yaml" "$XDG_CONFIG_HOME/aigw/aigw.yaml"
	run_aigw nodes list -q
	assert_ok
	assert_stdout $'openai-main\nlocal'
	# AIGW_CONFIG wins over both
	printf 'nodes:\n  - name: envnode\n    provider: http\n    url: http://h\n' >env.yaml
	AIGW_CONFIG=env.yaml run_aigw nodes list -q
	assert_ok
	assert_stdout envnode
}

# -------------------------------------------------------------- accounts

@test "accounts: several keys and a proxy from the command line" {
	run_aigw nodes add multi --url http://127.0.0.1:1 --provider openai \
		--api-key-env KEY_A,KEY_B --proxy http://10.0.0.9:3128
	assert_status 0
	run_aigw nodes show multi --json
	assert_ok
	jq -e '.api_key_env == null and (.accounts | length) == 2
		and .accounts[0] == {"api_key_env":"KEY_A","token_url":null,"client_id_env":null,
			"client_secret_env":null,"scope":null,"proxy":"http://10.0.0.9:3128"}
		and .accounts[1].api_key_env == "KEY_B" and .accounts[1].proxy == "http://10.0.0.9:3128"' \
		<<<"$output" >/dev/null || fail "$output"
	run_aigw nodes show multi
	grep -Eq '^account 1 +KEY_A via http://10\.0\.0\.9:3128$' <<<"$output" || fail "$output"
	grep -Eq '^account 2 +KEY_B via http://10\.0\.0\.9:3128$' <<<"$output" || fail "$output"
	# new keys keep the proxy; "" removes it; one key is a plain node again
	run_aigw nodes update multi --api-key-env KEY_C --json
	assert_ok
	jq -e '.accounts == [{"api_key_env":"KEY_C","token_url":null,"client_id_env":null,
		"client_secret_env":null,"scope":null,"proxy":"http://10.0.0.9:3128"}]' \
		<<<"$output" >/dev/null || fail "$output"
	run_aigw nodes update multi --proxy '' --json
	assert_ok
	jq -e '.api_key_env == "KEY_C" and .accounts == null' <<<"$output" >/dev/null || fail "$output"
	# a proxy alone is an account without a key
	run_aigw nodes add viaproxy --url http://127.0.0.1:1 --provider openai --proxy http://127.0.0.1:8888 --json
	assert_ok
	jq -e '.accounts[0].proxy == "http://127.0.0.1:8888" and .accounts[0].api_key_env == null' \
		<<<"$output" >/dev/null || fail "$output"
	# records read back as an import (less the fields that are not directives)
	aigw nodes list --json | jq -c 'del(.state, .source)' >all.jsonl
	run_aigw nodes import --replace all.jsonl
	assert_status 0
	[ "$(aigw nodes show viaproxy --json | jq -r '.accounts[0].proxy')" = http://127.0.0.1:8888 ]
}

@test "accounts: bad variable names, proxies and OAuth2 records change nothing" {
	make_nodes
	snapshot_db
	run_aigw nodes add x --url http://h --provider openai --api-key-env 'A,sk-live-1'
	assert_fail 2 "aigw nodes: invalid environment variable name 'sk-live-1'"
	run_aigw nodes add x --url http://h --provider openai --api-key-env 'A,,B'
	assert_fail 2 "aigw nodes: empty item in list 'A,,B'"
	run_aigw nodes add x --url http://h --provider openai --proxy https://p:3128
	assert_fail 2 "aigw nodes: proxy 'https://p:3128' is not http://host:port"
	run_aigw nodes add x --url http://h --provider openai --proxy http://p:3128/path
	assert_fail 2 "aigw nodes: proxy 'http://p:3128/path' is not http://host:port"
	run_aigw nodes update a --proxy http://p
	assert_fail 2 "aigw nodes: proxy 'http://p' is not http://host:port"
	run_aigw nodes update a --api-key-env 1BAD
	assert_fail 2 "aigw nodes: invalid environment variable name '1BAD'"
	printf '%s\n' '{"name":"o","url":"http://h","provider":"openai","accounts":[{"token_url":"https://t/token","client_id_env":"ID"}]}' >o.jsonl
	run_aigw nodes import o.jsonl
	assert_fail 1 "aigw nodes: o.jsonl:1: accounts: [0]: OAuth2 account has no client_secret_env"
	printf '%s\n' '{"name":"o","url":"http://h","provider":"openai","accounts":[{"token_url":"login.example/token","client_id_env":"ID","client_secret_env":"S"}]}' >o.jsonl
	run_aigw nodes import o.jsonl
	assert_fail 1 "aigw nodes: o.jsonl:1: accounts: [0].token_url: url 'login.example/token' must start with http:// or https://"
	printf 'nodes:\n  - name: o\n    url: http://h\n    provider: openai\n    api_key_env: A\n    accounts:\n      - api_key_env: B\n' >o.yaml
	run_aigw nodes import o.yaml
	assert_fail 1 "aigw nodes: o.yaml:7:7: nodes[0].accounts: api_key_env and accounts cannot both be given (write the keys as accounts)"
	assert_db_unchanged
}

@test "accounts: OAuth2 and proxies imported from YAML, shown without secrets" {
	export OAUTH_SECRET=hunter2-very-secret
	cat >acc.yaml <<'YAML'
nodes:
  - name: corp
    url: https://llm.corp.example/v1
    provider: openai
    accounts:
      - token_url: https://login.corp.example/oauth2/token
        client_id_env: OAUTH_ID
        client_secret_env: OAUTH_SECRET
        scope: llm.read
        proxy: http://10.0.0.1:3128
      - api_key_env: [CORP_KEY]
YAML
	run_aigw nodes import acc.yaml
	assert_fail 1 "aigw nodes: acc.yaml:11:22: nodes[0].accounts[1].api_key_env: expected a single value, got a list"
	sed -i 's/\[CORP_KEY\]/CORP_KEY/' acc.yaml
	run_aigw nodes import acc.yaml
	assert_status 0
	run_aigw nodes show corp --json
	assert_ok
	jq -e '.accounts[0].token_url == "https://login.corp.example/oauth2/token"
		and .accounts[0].client_secret_env == "OAUTH_SECRET" and .accounts[0].scope == "llm.read"
		and .accounts[1].api_key_env == "CORP_KEY" and .api_key_env == null' \
		<<<"$output" >/dev/null || fail "$output"
	run_aigw nodes show corp
	grep -Eq '^account 1 +oauth2 https://login\.corp\.example/oauth2/token \(client OAUTH_ID, secret OAUTH_SECRET, scope llm\.read\) via http://10\.0\.0\.1:3128$' \
		<<<"$output" || fail "$output"
	! grep -q hunter2 <<<"$output"
	! aigw nodes list --json | grep -q hunter2
}
