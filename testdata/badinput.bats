#!/usr/bin/env bats
# Bad input around the commands: unusable database paths and files, broken
# configuration, fresh machines, default locations and modes, and several
# processes writing at once. Each failure: exit code, one line on stderr,
# and nothing written.
bats_require_minimum_version 1.5.0
load helpers

# ---------------------------------------------------------------- db paths

@test "--db in a missing directory: clear error, exit 1, nothing created" {
	run_aigw --db /nonexistent/dir/x.db keys create --name a
	assert_fail 1 "aigw keys: cannot open database '/nonexistent/dir/x.db': directory '/nonexistent/dir' does not exist"
	run_aigw --db /nonexistent/dir/x.db keys list
	assert_fail 1 "aigw keys: cannot open database '/nonexistent/dir/x.db': directory '/nonexistent/dir' does not exist"
	run_aigw nodes add n --url http://h --provider openai --db /nonexistent/dir/x.db
	assert_fail 1 "aigw nodes: cannot open database '/nonexistent/dir/x.db': directory '/nonexistent/dir' does not exist"
	[ ! -e /nonexistent ]
	# AIGW_DB is held to the same rule
	AIGW_DB="$TEST_DIR/no/such/dir/x.db" run_aigw keys create --name a
	assert_fail 1 "aigw keys: cannot open database '$TEST_DIR/no/such/dir/x.db': directory '$TEST_DIR/no/such/dir' does not exist"
	[ ! -e "$TEST_DIR/no" ]
}

@test "--db in a directory that is not writable (as a normal user)" {
	[ "$(id -u)" != 0 ] || skip "root ignores directory modes (see the next test)"
	mkdir ro
	chmod 500 ro
	run_aigw --db ro/x.db keys create --name a
	chmod 700 ro
	assert_fail 1 "aigw keys: cannot create database 'ro/x.db': directory 'ro' is not writable"
	[ -z "$(ls -A ro)" ]
}

@test "--db where no file can be created: a file as directory, /proc" {
	echo "not a directory" >plain
	snapshot_db plain
	run_aigw --db plain/x.db keys create --name a
	assert_fail 1 "aigw keys: cannot open database 'plain/x.db': not a directory"
	run_aigw --db plain/x.db keys list
	assert_fail 1 "aigw keys: cannot open database 'plain/x.db': not a directory"
	assert_db_unchanged plain
	[ "$(cat plain)" = "not a directory" ]
	run_aigw --db /proc/aigw-test.db keys create --name a
	assert_status 1
	assert_stderr_match "^aigw keys: cannot create database '/proc/aigw-test\.db': "
	assert_stdout_empty
	[ ! -e /proc/aigw-test.db ]
}

@test "--db naming a directory" {
	mkdir adir
	run_aigw --db adir keys create --name a
	assert_fail 1 "aigw keys: cannot open database 'adir': it is a directory"
	[ -z "$(ls -A adir)" ]
}

# ---------------------------------------------------------------- db files

@test "a file that is not SQLite is refused and left unchanged" {
	head -c 8192 /dev/urandom >"$AIGW_DB"
	snapshot_db
	run_aigw keys list
	assert_fail 1 "aigw keys: '$AIGW_DB' is not an aigw database (file is not a database)"
	run_aigw keys create --name a
	assert_fail 1 "aigw keys: '$AIGW_DB' is not an aigw database (file is not a database)"
	run_aigw nodes add n --url http://h --provider openai
	assert_fail 1 "aigw nodes: '$AIGW_DB' is not an aigw database (file is not a database)"
	run_aigw route list
	assert_fail 1 "aigw route: '$AIGW_DB' is not an aigw database (file is not a database)"
	assert_db_unchanged
	[ ! -e "$AIGW_DB-wal" ] && [ ! -e "$AIGW_DB-shm" ]
}

@test "a text file is refused and left unchanged" {
	printf 'hello\nworld\n' >notes.txt
	snapshot_db notes.txt
	run_aigw --db notes.txt keys create --name a
	assert_fail 1 "aigw keys: 'notes.txt' is not an aigw database (file is not a database)"
	assert_db_unchanged notes.txt
}

@test "a database with a newer schema is refused and left unchanged" {
	sqlite3 "$AIGW_DB" "pragma user_version=99; pragma application_id=1634297719; create table t(x)"
	snapshot_db
	run_aigw keys list
	assert_fail 1 "aigw keys: database '$AIGW_DB' has schema version 99, newer than this aigw supports (7); upgrade aigw"
	run_aigw keys create --name a
	assert_fail 1 "aigw keys: database '$AIGW_DB' has schema version 99, newer than this aigw supports (7); upgrade aigw"
	run_aigw nodes import - <<<'{"name":"n","url":"http://h","provider":"http"}'
	assert_fail 1 "aigw nodes: database '$AIGW_DB' has schema version 99, newer than this aigw supports (7); upgrade aigw"
	assert_db_unchanged
	[ "$(sql "pragma user_version")" = 99 ]
	[ "$(sql "select name from sqlite_master")" = t ]
}

@test "a database of another program is refused and left unchanged" {
	sqlite3 other.db "pragma application_id=42; create table t(x); insert into t values (1)"
	snapshot_db other.db
	run_aigw --db other.db keys list
	assert_fail 1 "aigw keys: 'other.db' belongs to another program (application_id 0x0000002a)"
	run_aigw --db other.db keys create --name a
	assert_fail 1 "aigw keys: 'other.db' belongs to another program (application_id 0x0000002a)"
	run_aigw --db other.db nodes add a --url http://h --provider openai
	assert_fail 1 "aigw nodes: 'other.db' belongs to another program (application_id 0x0000002a)"
	assert_db_unchanged other.db

	sqlite3 plain.db "create table t(x)"
	snapshot_db plain.db
	run_aigw --db plain.db keys create --name a
	assert_fail 1 "aigw keys: 'plain.db' belongs to another program (it has tables but no aigw application_id)"
	assert_db_unchanged plain.db

	sqlite3 versioned.db "pragma user_version=3"
	snapshot_db versioned.db
	run_aigw --db versioned.db route add r --path / --nodes a
	assert_fail 1 "aigw route: 'versioned.db' belongs to another program (user_version 3 without the aigw application_id)"
	assert_db_unchanged versioned.db
}

@test "an aigw database is stamped with the aigw application_id and schema version" {
	aigw keys create --name a -q >/dev/null
	[ "$(sql "pragma application_id")" = 1634297719 ]
	[ "$(sql "pragma user_version")" = 7 ]
	[ "$(sql "pragma integrity_check")" = ok ]
	[ "$(sql "pragma journal_mode")" = wal ]
}

# ---------------------------------------------------------------- config

@test "malformed YAML: exit 4 with file:line:col, nothing written" {
	aigw nodes add keep --url http://h --provider openai -q >/dev/null
	snapshot_db
	printf 'nodes:\n  - name: x\n    url: [\n' >bad.yaml
	run_aigw nodes list --config bad.yaml
	assert_fail 4 "aigw nodes: bad.yaml:4:1: yaml syntax error: did not find expected node content (while parsing a flow node at line 4)"
	printf 'a: b\n  c: d\n' >bad2.yaml
	run_aigw nodes add z --url http://h --provider openai --config bad2.yaml
	assert_fail 4 "aigw nodes: bad2.yaml:2:4: yaml syntax error: mapping values are not allowed in this context"
	run_aigw route add r --path /r --nodes keep --config bad2.yaml
	assert_fail 4 "aigw route: bad2.yaml:2:4: yaml syntax error: mapping values are not allowed in this context"
	printf '[1, 2]\n' >list.yaml
	run_aigw route check --config list.yaml
	assert_fail 4 "aigw route: list.yaml:1:1: the top level must be a mapping of directives, not a list"
	assert_db_unchanged
}

@test "unknown YAML directive: exit 4 with a suggestion" {
	printf 'lgo_level: info\n' >unk.yaml
	run_aigw route list --config unk.yaml
	assert_fail 4 "aigw route: unk.yaml:1:1: lgo_level: unknown directive 'lgo_level' (did you mean 'log_level'?)"
	printf 'nodes:\n  - name: x\n    provider: openai\n    url: http://h\n    wieght: 3\n' >unk2.yaml
	run_aigw nodes list --config unk2.yaml
	assert_fail 4 "aigw nodes: unk2.yaml:5:5: nodes[0].wieght: unknown directive 'wieght' (did you mean 'weight'?)"
	assert_no_db
}

@test "bad YAML values: range, enum, duplicate directive, unset variable" {
	printf 'nodes:\n  - name: x\n    provider: openai\n    url: http://h\n    weight: 0\n' >w.yaml
	run_aigw nodes list --config w.yaml
	assert_fail 4 "aigw nodes: w.yaml:5:13: nodes[0].weight: 0 is out of range (1..1000)"
	printf 'nodes:\n  - name: a\n    provider: opnai\n    url: http://h\n' >p.yaml
	run_aigw route list --config p.yaml
	assert_fail 4 "aigw route: p.yaml:3:15: nodes[0].provider: unknown provider 'opnai' (did you mean 'openai'?)"
	printf 'log_level: info\nlog_level: debug\n' >d.yaml
	run_aigw nodes list --config d.yaml
	assert_fail 4 "aigw nodes: d.yaml:2:1: log_level: duplicate directive (first at line 1)"
	printf 'log_level: loud\n' >l.yaml
	run_aigw route check --config l.yaml
	assert_fail 4 "aigw route: l.yaml:1:12: log_level: unknown log level 'loud' (choose from error, warn, info, debug)"
	printf 'nodes:\n  - name: a\n    provider: openai\n    url: ${AIGW_TEST_UNSET}\n' >v.yaml
	unset AIGW_TEST_UNSET
	run_aigw nodes list --config v.yaml
	assert_fail 4 "aigw nodes: v.yaml:4:10: nodes[0].url: environment variable 'AIGW_TEST_UNSET' is not set (use \${AIGW_TEST_UNSET:-default} to give a default)"
	printf 'nodes:\n  - name: a\n    provider: openai\n    url: http://h\n    accounts:\n      - api_key_env: K\n        proxy: socks5://p:1080\n' >px.yaml
	run_aigw nodes list --config px.yaml
	assert_fail 4 "aigw nodes: px.yaml:7:16: nodes[0].accounts[0].proxy: proxy 'socks5://p:1080' is not http://host:port"
	printf 'nodes:\n  - name: a\n    provider: openai\n    url: http://h\n    accounts:\n      - token_url: https://t/token\n        client_secret_env: S\n' >oa.yaml
	run_aigw route check --config oa.yaml
	assert_fail 4 "aigw route: oa.yaml:6:9: nodes[0].accounts[0]: OAuth2 account has no client_id_env"
	printf 'nodes:\n  - name: a\n    provider: openai\n    url: http://h\n    api_key_env: [A, "B C"]\n' >ke.yaml
	run_aigw nodes list --config ke.yaml
	assert_fail 4 "aigw nodes: ke.yaml:5:22: nodes[0].api_key_env[1]: 'B C' is not an environment variable name (letters, digits and '_', not starting with a digit; the file names the variable, never the secret)"
	printf 'routes:\n  - name: r\n    path: /\n    nodes: a\n    idle_timeout: 2d\n' >it.yaml
	run_aigw route list --config it.yaml
	assert_fail 4 "aigw route: it.yaml:5:19: routes[0].idle_timeout: 2d is out of range (0s..1d)"
	printf 'routes:\n  - name: r\n    path: /\n    nodes: a\n    connect_timeout: 5\n' >ct.yaml
	run_aigw route list --config ct.yaml
	assert_fail 4 "aigw route: ct.yaml:5:22: routes[0].connect_timeout: '5' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)"
	printf 'nodes:\n  - name: a\n    provider: openai\n    url: ftp://h\n' >u.yaml
	run_aigw nodes list --config u.yaml
	assert_status 4
	assert_stderr_match "^aigw nodes: u\.yaml:4:[0-9]+: nodes\[0\]\.url: url 'ftp://h' must start with http:// or https://$"
	assert_no_db
}

@test "--config or AIGW_CONFIG naming a missing file: exit 4" {
	run_aigw nodes list --config missing.yaml
	assert_fail 4 "aigw nodes: config file 'missing.yaml' does not exist"
	run_aigw nodes add n --url http://h --provider openai --config missing.yaml
	assert_fail 4 "aigw nodes: config file 'missing.yaml' does not exist"
	AIGW_CONFIG=missing2.yaml run_aigw route list
	assert_fail 4 "aigw route: config file 'missing2.yaml' does not exist"
	mkdir adir
	run_aigw route list --config adir
	assert_fail 4 "aigw route: cannot read config file 'adir': Is a directory"
	assert_no_db
}

@test "a broken ./aigw.yaml is found and reported" {
	printf 'nodes: [\n' >aigw.yaml
	run_aigw nodes list
	assert_fail 4 "aigw nodes: aigw.yaml:2:1: yaml syntax error: did not find expected node content (while parsing a flow node at line 2)"
}

# ---------------------------------------------------------------- fresh machine

@test "read commands on a fresh machine create no database (AIGW_DB)" {
	local c
	for c in "keys list" "keys list --all --json" "nodes list" "route list" "route check"; do
		# shellcheck disable=SC2086
		run_aigw $c -q
		assert_ok
		assert_stdout_empty
	done
	run_aigw keys show x
	assert_fail 3 "aigw keys: no key named 'x'"
	run_aigw nodes show x
	assert_fail 3 "aigw nodes: no node named 'x'"
	run_aigw route show x
	assert_fail 3 "aigw route: no route named 'x'"
	run_aigw route test GET /
	assert_fail 3 "aigw route: no route matches GET /"
	assert_no_db
}

@test "read commands on a fresh machine create nothing at the default location" {
	unset AIGW_DB
	run_aigw keys list
	assert_ok
	assert_stdout_empty
	run_aigw nodes list --json
	assert_ok
	run_aigw route check -q
	assert_ok
	[ ! -e "$XDG_STATE_HOME" ] || fail "created $(find "$XDG_STATE_HOME")"
	[ ! -e "$HOME/.local" ]
}

@test "changing a missing record on a fresh machine creates no database" {
	run_aigw keys revoke x
	assert_fail 3 "aigw keys: no key named 'x'"
	run_aigw keys rotate x
	assert_fail 3 "aigw keys: no key named 'x'"
	run_aigw keys update x --rpm 3
	assert_fail 3 "aigw keys: no key named 'x'"
	run_aigw keys delete 7
	assert_fail 3 "aigw keys: no key with id 7"
	run_aigw nodes rm x
	assert_fail 3 "aigw nodes: no node named 'x'"
	run_aigw nodes disable x
	assert_fail 3 "aigw nodes: no node named 'x'"
	run_aigw nodes update x --weight 2
	assert_fail 3 "aigw nodes: no node named 'x'"
	run_aigw route rm x
	assert_fail 3 "aigw route: no route named 'x'"
	assert_no_db
	unset AIGW_DB
	run_aigw keys revoke x
	assert_fail 3 "aigw keys: no key named 'x'"
	[ ! -e "$XDG_STATE_HOME" ]
}

@test "usage errors on a fresh machine create no database" {
	run_aigw keys create --name x --rpm -1
	assert_fail 2 "aigw keys: --rpm: -1 is out of range (0..1000000000)"
	run_aigw keys create --name x --expires 2001-01-01
	assert_fail 2 "aigw keys: --expires: expiry '2001-01-01' is in the past"
	run_aigw nodes add x --url http://h --provider opnai
	assert_fail 2 "aigw nodes: --provider: unknown provider 'opnai' (did you mean 'openai'?)"
	run_aigw nodes add x --url http://h --provider openai --weight 0
	assert_fail 2 "aigw nodes: --weight: 0 is out of range (1..1000)"
	run_aigw nodes add x --url http://h --provider openai --proxy http://user:pw@p:1
	assert_fail 2 "aigw nodes: proxy 'http://user:pw@p:1' is not http://host:port"
	run_aigw nodes add x --url http://h --provider openai --api-key-env 'A,$B'
	assert_fail 2 "aigw nodes: invalid environment variable name '\$B'"
	run_aigw nodes import missing.jsonl
	assert_fail 3 "aigw nodes: cannot read 'missing.jsonl': No such file or directory"
	assert_no_db
}

@test "refused values checked after opening: no database left behind on a fresh machine" {
	# A failed command writes nothing (aigw(1)), not even an empty database.
	run_aigw keys create --name 'a b'
	assert_fail 2 "aigw keys: invalid key name 'a b' (1-64 of A-Z a-z 0-9 . _ -, not all digits)"
	assert_no_db
	run_aigw nodes add x --url ftp://x --provider openai
	assert_fail 2 "aigw nodes: url 'ftp://x' must start with http:// or https://"
	assert_no_db
	run_aigw route add r --path / --nodes ghost
	assert_fail 3 "aigw route: no node named 'ghost'"
	assert_no_db
	run_aigw route add r --path / --nodes a --first-byte-timeout 25h
	assert_fail 2 "aigw route: first_byte_timeout 1d1h is out of range (0..24h, 0 = no limit)"
	assert_no_db
	run_aigw nodes import - <<<'{"name":"b3","url":"ftp://x","provider":"openai"}'
	assert_fail 1 "aigw nodes: <stdin>:1: url: url 'ftp://x' must start with http:// or https://"
	assert_no_db
}

@test "the default database is created under XDG_STATE_HOME with modes 700 and 600" {
	unset AIGW_DB
	umask 022
	run_aigw keys create --name a -q
	assert_status 0
	[ -d "$XDG_STATE_HOME/aigw" ]
	[ "$(stat -c %a "$XDG_STATE_HOME/aigw")" = 700 ]
	[ "$(stat -c %a "$XDG_STATE_HOME/aigw/aigw.db")" = 600 ]
	run_aigw keys list -q
	assert_ok
	assert_stdout a
	# an explicit path gets the same file mode, whatever the umask
	umask 000
	aigw --db "$TEST_DIR/state/explicit.db" keys create --name b -q >/dev/null
	[ "$(stat -c %a "$TEST_DIR/state/explicit.db")" = 600 ]
}

@test "without XDG_STATE_HOME (or with a relative one) the database goes to ~/.local/state/aigw" {
	unset AIGW_DB XDG_STATE_HOME
	run_aigw keys create --name a -q
	assert_status 0
	[ -f "$HOME/.local/state/aigw/aigw.db" ]
	[ "$(stat -c %a "$HOME/.local/state/aigw")" = 700 ]
	[ "$(stat -c %a "$HOME/.local/state/aigw/aigw.db")" = 600 ]
	XDG_STATE_HOME=relative/dir run_aigw keys list -q
	assert_ok
	assert_stdout a
	[ ! -e relative ]
}

@test "an existing directory keeps its mode" {
	unset AIGW_DB
	mkdir -p "$XDG_STATE_HOME/aigw"
	chmod 755 "$XDG_STATE_HOME/aigw"
	aigw keys create --name a -q >/dev/null
	[ "$(stat -c %a "$XDG_STATE_HOME/aigw")" = 755 ]
	[ "$(stat -c %a "$XDG_STATE_HOME/aigw/aigw.db")" = 600 ]
}

# ---------------------------------------------------------------- concurrency

@test "two processes creating 40 keys each at once: 80 keys, database intact" {
	local n=40
	(for i in $(seq 1 $n); do aigw keys create --name "left-$i" -q >/dev/null || echo "left-$i failed"; done) >left.err 2>&1 &
	local p1=$!
	(for i in $(seq 1 $n); do aigw keys create --name "right-$i" -q >/dev/null || echo "right-$i failed"; done) >right.err 2>&1 &
	local p2=$!
	wait "$p1"
	wait "$p2"
	[ ! -s left.err ] || fail "left: $(cat left.err)"
	[ ! -s right.err ] || fail "right: $(cat right.err)"
	[ "$(aigw keys list -q | wc -l)" -eq 80 ]
	[ "$(sql "select count(*) from keys")" -eq 80 ]
	[ "$(sql "select count(distinct hash) from keys")" -eq 80 ]
	[ "$(sql "pragma integrity_check")" = ok ]
}

@test "two imports of different files at once: all nodes, database intact" {
	local i
	for i in $(seq 1 40); do
		printf '{"name":"west-%d","url":"http://127.0.0.1:%d","provider":"openai"}\n' "$i" $((10000 + i))
	done >west.jsonl
	for i in $(seq 1 40); do
		printf '{"name":"east-%d","url":"http://127.0.0.1:%d","provider":"ollama"}\n' "$i" $((20000 + i))
	done >east.jsonl
	# repeated a few times each so the two really overlap
	(for r in 1 2 3 4 5; do aigw nodes import --replace west.jsonl -q || echo "west $r failed"; done) >west.err 2>&1 &
	local p1=$!
	(for r in 1 2 3 4 5; do aigw nodes import --replace east.jsonl -q || echo "east $r failed"; done) >east.err 2>&1 &
	local p2=$!
	wait "$p1"
	wait "$p2"
	[ ! -s west.err ] || fail "west: $(cat west.err)"
	[ ! -s east.err ] || fail "east: $(cat east.err)"
	[ "$(aigw nodes list -q | wc -l)" -eq 80 ]
	[ "$(sql "select count(*) from nodes where provider = 'openai'")" -eq 40 ]
	[ "$(sql "select count(*) from nodes where provider = 'ollama'")" -eq 40 ]
	[ "$(sql "pragma integrity_check")" = ok ]
}

@test "two processes racing to create the same key name: exactly one wins" {
	local i
	for i in 1 2 3 4 5 6; do
		aigw keys create --name same -q >/dev/null 2>"err.$i" &
	done
	wait
	[ "$(aigw keys list -q)" = same ]
	[ "$(cat err.* | grep -c "^aigw keys: a key named 'same' already exists$")" -eq 5 ] || fail "$(cat err.*)"
	[ "$(sql "pragma integrity_check")" = ok ]
}
