#!/usr/bin/env bats
# Dispatch and the command-line contract shared by every command: --list,
# --version, help, -h, aigw-<cmd> symlinks, global options anywhere, and
# the usage errors (exit 2, one line on stderr, nothing written).
bats_require_minimum_version 1.5.0
load helpers

@test "--list prints the commands, one per line" {
	run_aigw --list
	assert_ok
	assert_stdout $'bench
keys
mock
nodes
route
serve
stats'
}

@test "--version prints the version from VERSION" {
	run_aigw --version
	assert_ok
	assert_stdout "aigw $(cat "$BATS_TEST_DIRNAME/../VERSION")"
	# also accepted after a command
	run_aigw keys --version
	assert_ok
	assert_stdout "aigw $(cat "$BATS_TEST_DIRNAME/../VERSION")"
}

@test "help, -h and --help print the overview on stdout" {
	run_aigw help
	assert_ok
	[[ "${lines[0]}" == "usage: aigw <command> [options]" ]] || fail "$output"
	local overview=$output
	for c in keys nodes route; do
		grep -Eq "^  $c +[a-z]" <<<"$overview" || fail "no '$c' in overview"
	done
	grep -q '^exit codes: 0 ok, 1 failure, 2 usage error, 3 not found, 4 config error$' <<<"$overview"
	for h in -h --help; do
		run_aigw "$h"
		assert_ok
		assert_stdout "$overview"
	done
}

@test "no arguments: the overview on stderr, exit 2" {
	run_aigw
	assert_status 2
	assert_stdout_empty
	[[ "${stderr_lines[0]}" == "usage: aigw <command> [options]" ]] || fail "stderr: $stderr"
}

@test "help keys == keys --help == keys -h: verbs and global options" {
	run_aigw help keys
	assert_ok
	local text=$output
	[[ "${lines[0]}" == "usage: aigw keys <verb> [options]" ]] || fail "$output"
	for v in create list show update rotate revoke delete; do
		grep -Eq "^  $v( |$)" <<<"$text" || fail "verb $v missing"
	done
	grep -q -- '--db PATH' <<<"$text"
	grep -q -- '--version' <<<"$text"
	run_aigw keys --help
	assert_ok
	assert_stdout "$text"
	run_aigw keys -h
	assert_ok
	assert_stdout "$text"
}

@test "help keys create == keys create -h: usage line and options" {
	run_aigw help keys create
	assert_ok
	local text=$output
	[[ "${lines[0]}" == "usage: aigw keys create --name NAME [--rpm N] [--tpm N] [--budget USD] [--expires D] [--models GLOB,"* ]] ||
		fail "usage line: ${lines[0]}"
	for o in --name --rpm --tpm --budget --expires --models; do
		grep -Eq "^  $o " <<<"$text" || fail "option $o missing"
	done
	# list's own option is not offered for create
	if grep -q -- '--all' <<<"$text"; then fail "--all offered for create"; fi
	run_aigw keys create -h
	assert_ok
	assert_stdout "$text"
	# -h wins over missing required options and needs no database
	assert_no_db
}

@test "help for every command and verb succeeds" {
	local cmd verb n=0
	for cmd in keys nodes route; do
		run_aigw help "$cmd"
		assert_ok
		for verb in $(sed -n '/^verbs:/,/^$/p' <<<"$output" | awk 'NF && !/^verbs:/ {print $1}'); do
			n=$((n + 1))
			run_aigw help "$cmd" "$verb"
			assert_ok
			[[ "${lines[0]}" == "usage: aigw $cmd $verb"* ]] || fail "help $cmd $verb: ${lines[0]}"
		done
	done
	[ "$n" -eq 23 ] || fail "found $n verbs, expected 7 + 9 + 7"
	assert_no_db
}

@test "help of an unknown command suggests one; too many arguments" {
	run_aigw help kes
	assert_fail 2 "aigw: unknown command 'kes' (did you mean 'keys'?)"
	run_aigw help keys crate
	assert_fail 2 "aigw keys: unknown verb 'crate' (did you mean 'create'?)"
	run_aigw help keys create extra
	assert_fail 2 "aigw help: too many arguments"
}

@test "unknown command: did you mean, exit 2" {
	run_aigw kes list
	assert_fail 2 "aigw: unknown command 'kes' (did you mean 'keys'?)"
	run_aigw noeds
	assert_fail 2 "aigw: unknown command 'noeds' (did you mean 'nodes'?)"
	run_aigw zzzzzzzz
	assert_fail 2 "aigw: unknown command 'zzzzzzzz' (see 'aigw --list')"
	assert_no_db
}

@test "aigw-keys symlink runs the keys command" {
	ln -s "$AIGW" aigw-keys
	runx ./aigw-keys create --name viasymlink
	assert_status 0
	[[ "$output" =~ ^aigw_[0-9A-Za-z]{43}$ ]] || fail "secret: $output"
	runx ./aigw-keys list -q
	assert_ok
	assert_stdout viasymlink
	runx ./aigw-keys -h
	assert_ok
	[[ "${lines[0]}" == "usage: aigw keys <verb> [options]" ]] || fail "${lines[0]}"
	# through PATH as well, the way make install sets it up
	mkdir bin
	ln -s "$AIGW" bin/aigw-route
	PATH="$PWD/bin:$PATH" runx aigw-route list -q
	assert_ok
}

@test "aigw-<unknown> symlink is an unknown command" {
	ln -s "$AIGW" aigw-kes
	runx ./aigw-kes list
	assert_fail 2 "aigw: unknown command 'kes' (did you mean 'keys'?)"
}

@test "global options before the command" {
	local other="$TEST_DIR/state/other.db"
	run_aigw --db "$other" keys create --name g1 -q
	assert_status 0
	[ -f "$other" ]
	assert_no_db
	run_aigw --db "$other" --json keys list
	assert_ok
	[ "$(jq -r .name <<<"$output")" = g1 ]
	run_aigw --db="$other" -q keys list
	assert_ok
	assert_stdout g1
	run_aigw --quiet --db "$other" keys list
	assert_ok
	assert_stdout g1
	# and after the verb, and with =
	run_aigw keys list --db="$other" -q
	assert_ok
	assert_stdout g1
	# --config before the command is used too
	run_aigw --config missing.yaml nodes list
	assert_fail 4 "aigw nodes: config file 'missing.yaml' does not exist"
}

@test "global option without a command" {
	run_aigw --json
	assert_fail 2 "aigw: missing command (see 'aigw --list')"
	run_aigw --db x.db
	assert_fail 2 "aigw: missing command (see 'aigw --list')"
	[ ! -e x.db ]
}

@test "unknown top-level option" {
	run_aigw -x keys list
	assert_fail 2 "aigw: unknown option '-x' (see 'aigw --help')"
}

@test "unknown option: suggestion, exit 2, nothing written" {
	run_aigw keys create --nmae ci
	assert_fail 2 "aigw keys: unknown option '--nmae' (did you mean '--name'?)"
	run_aigw keys list --al
	assert_fail 2 "aigw keys: unknown option '--al' (did you mean '--all'?)"
	run_aigw nodes add n --url http://h --provider openai --wieght 3
	assert_fail 2 "aigw nodes: unknown option '--wieght' (did you mean '--weight'?)"
	run_aigw keys list -z
	assert_fail 2 "aigw keys: unknown option '-z'"
	assert_no_db
}

@test "option not valid for the verb" {
	run_aigw keys list --rpm 5
	assert_fail 2 "aigw keys: option '--rpm' does not apply to 'keys list'"
	run_aigw nodes list --replace
	assert_fail 2 "aigw nodes: option '--replace' does not apply to 'nodes list'"
	run_aigw route test GET / --nodes a
	assert_fail 2 "aigw route: option '--nodes' does not apply to 'route test'"
	assert_no_db
}

@test "option values: missing value, value given to a flag" {
	run_aigw keys create --name
	assert_fail 2 "aigw keys: option '--name' needs a value NAME"
	run_aigw keys list --json=yes
	assert_fail 2 "aigw keys: option '--json' takes no value"
	assert_no_db
}

@test "missing verb and unknown verb" {
	run_aigw keys
	assert_fail 2 "aigw keys: missing verb (one of: create, list, show, update, rotate, revoke, delete)"
	run_aigw nodes
	assert_fail 2 "aigw nodes: missing verb (one of: add, list, show, update, enable, disable, drain, rm, import)"
	run_aigw route
	assert_fail 2 "aigw route: missing verb (one of: add, list, show, rm, test, check, models)"
	run_aigw keys crate --name x
	assert_fail 2 "aigw keys: unknown verb 'crate' (did you mean 'create'?)"
	assert_no_db
}

@test "missing required option" {
	run_aigw keys create
	assert_fail 2 "aigw keys: missing required option '--name NAME'"
	run_aigw nodes add n --provider openai
	assert_fail 2 "aigw nodes: missing required option '--url URL'"
	run_aigw nodes add n --url http://h
	assert_fail 2 "aigw nodes: missing required option '--provider P'"
	run_aigw route add r --nodes a
	assert_fail 2 "aigw route: missing required option '--path PREFIX'"
	run_aigw route add r --path /
	assert_fail 2 "aigw route: missing required option '--nodes N1,N2'"
	assert_no_db
}

@test "missing and extra arguments" {
	run_aigw keys show
	assert_fail 2 "aigw keys: missing argument (usage: keys show ID)"
	run_aigw keys show a b
	assert_fail 2 "aigw keys: unexpected argument 'b'"
	run_aigw nodes add x y --url http://h --provider openai
	assert_fail 2 "aigw nodes: unexpected argument 'y'"
	run_aigw nodes import a b
	assert_fail 2 "aigw nodes: unexpected argument 'b'"
	run_aigw route test GET
	assert_fail 2 "aigw route: missing argument (usage: route test METHOD PATH)"
	run_aigw route test GET /a /b
	assert_fail 2 "aigw route: unexpected argument '/b'"
	run_aigw keys list extra
	assert_fail 2 "aigw keys: unexpected argument 'extra'"
	assert_no_db
}

@test "-- ends options: a name that looks like an option" {
	run_aigw keys show -- --weird
	assert_fail 3 "aigw keys: no key named '--weird'"
}

@test "read commands on a fresh machine print nothing and create nothing" {
	local c
	for c in "keys list" "keys list --all" "nodes list" "route list" "keys list --json" "nodes list -q"; do
		# shellcheck disable=SC2086
		run_aigw $c
		assert_ok
		assert_stdout_empty
	done
	run_aigw route check -q
	assert_ok
	assert_stdout_empty
	assert_no_db
	[ -z "$(ls -A "$TEST_DIR/state")" ] || fail "state dir not empty: $(ls -A "$TEST_DIR/state")"
}
