#!/usr/bin/env bats
# aigw keys: create, list, show, update, rotate, revoke, delete, end to end.
bats_require_minimum_version 1.5.0
load helpers

SECRET_RE='^aigw_[0-9A-Za-z]{43}$'

# create_key NAME [options]: creates a key, sets SECRET.
create_key() {
	SECRET=$(aigw keys create --name "$@" -q) || return 1
	[[ "$SECRET" =~ $SECRET_RE ]] || fail "bad secret '$SECRET'"
}

@test "create prints the secret alone on stdout and a note on stderr" {
	run_aigw keys create --name ci
	assert_status 0
	[[ "$output" =~ $SECRET_RE ]] || fail "secret: $output"
	assert_lines 1 "$output"
	assert_stderr "aigw keys: created key 'ci' (id 1); the secret above is shown only this once"
	# KEY=$(aigw keys create ...) captures exactly the secret
	KEY=$(aigw keys create --name ci2 2>/dev/null)
	[[ "$KEY" =~ $SECRET_RE ]]
	# -q: no note
	run_aigw keys create --name ci3 -q
	assert_ok
	[[ "$output" =~ $SECRET_RE ]]
}

@test "secrets are random and distinct" {
	create_key k1
	local s1=$SECRET
	create_key k2
	[ "$s1" != "$SECRET" ]
}

@test "create --json: the record with the secret in key" {
	run_aigw keys create --name ci --rpm 600 --tpm 90000 --budget 12.50 \
		--expires 2030-01-01 --models 'gpt-4o*,claude-*' --json
	assert_ok
	assert_lines 1 "$output"
	jq -e '.id == 1 and .name == "ci" and .status == "active" and .rpm == 600
		and .tpm == 90000 and .budget_usd == 12.5 and .models == ["gpt-4o*","claude-*"]
		and .expires_at == "2030-01-01T00:00:00Z" and .revoked_at == null
		and .rotated_from == null and (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"))' \
		<<<"$output" >/dev/null || fail "$output"
	local key prefix
	key=$(jq -r .key <<<"$output")
	prefix=$(jq -r .prefix <<<"$output")
	[[ "$key" =~ $SECRET_RE ]]
	[ "$prefix" = "${key:0:11}" ]
	# money keeps its cents in the JSON text
	[[ "$output" == *'"budget_usd":12.50'* ]] || fail "$output"
}

@test "the secret is never shown again and never stored" {
	create_key ci --rpm 5
	local secret=$SECRET
	local out
	for args in "keys list" "keys list --all" "keys list --json" "keys list --all --json" \
		"keys show ci" "keys show ci --json" "keys show 1" "keys list -q"; do
		# shellcheck disable=SC2086
		out=$(aigw $args 2>&1)
		[[ "$out" != *"$secret"* ]] || fail "'aigw $args' printed the secret"
		# the prefix is what identifies it
		[[ "$args" == *-q* ]] || [[ "$out" == *"${secret:0:11}"* ]] || fail "'aigw $args' lacks the prefix: $out"
	done
	run_aigw keys list --json
	[ "$(jq 'has("key")' <<<"$output")" = false ]
	# not in the database, in any form the dump shows
	[ "$(sqlite3 "$AIGW_DB" .dump | grep -c "$secret")" -eq 0 ]
	[ "$(sqlite3 "$AIGW_DB" .dump | grep -c "${secret#aigw_}")" -eq 0 ]
	# what is stored is its SHA-256
	local want got
	want=$(sha256_hex "$secret")
	got=$(sql "select lower(hex(hash)) from keys where name = 'ci'")
	[ "$got" = "$want" ] || fail "stored hash $got, sha256 of the secret $want"
	[ "$(sql "select display from keys")" = "${secret:0:11}" ]
}

@test "list: table, --json lines, -q names, --all includes revoked" {
	create_key alpha --rpm 10 --models 'gpt-*'
	create_key beta --budget 3 --expires 2030-06-01
	create_key gamma
	aigw keys revoke gamma 2>/dev/null

	run_aigw keys list
	assert_ok
	assert_lines 3 "$output"
	[[ "${lines[0]}" =~ ^ID\ +NAME\ +PREFIX\ +STATUS\ +RPM\ +TPM\ +BUDGET\ +MODELS\ +EXPIRES$ ]] || fail "${lines[0]}"
	[[ "${lines[1]}" =~ ^1\ +alpha\ +aigw_[0-9A-Za-z]{6}\ +active\ +10\ +-\ +-\ +gpt-\*\ +-$ ]] || fail "${lines[1]}"
	[[ "${lines[2]}" =~ ^2\ +beta\ +aigw_[0-9A-Za-z]{6}\ +active\ +-\ +-\ +\$3\.00\ +all\ +2030-06-01T00:00:00Z$ ]] || fail "${lines[2]}"

	run_aigw keys list --json
	assert_ok
	assert_lines 2 "$output"
	assert_json_lines
	[ "$(jq -r .name <<<"$output" | tr '\n' ' ')" = "alpha beta " ]
	jq -e 'has("id") and has("prefix") and has("status") and has("models")' <<<"${lines[0]}" >/dev/null

	run_aigw keys list -q
	assert_ok
	assert_stdout $'alpha\nbeta'

	run_aigw keys list --all -q
	assert_ok
	assert_stdout $'alpha\nbeta\ngamma'
	run_aigw keys list -a --json
	assert_ok
	assert_lines 3 "$output"
	[ "$(jq -r 'select(.name == "gamma") | .status' <<<"$output")" = revoked ]
	[ "$(jq -r 'select(.name == "gamma") | .revoked_at' <<<"$output")" != null ]
}

@test "list shows expired keys as expired" {
	create_key old --expires 1d
	sql "update keys set expires_at = 1000 where name = 'old'"
	run_aigw keys list --json
	assert_ok
	[ "$(jq -r .status <<<"$output")" = expired ]
	run_aigw keys show old
	assert_ok
	grep -Eq '^status +expired$' <<<"$output"
}

@test "show by name and by id" {
	create_key ci --rpm 600 --models 'gpt-4o*,claude-*'
	run_aigw keys show ci
	assert_ok
	grep -Eq '^id +1$' <<<"$output"
	grep -Eq '^name +ci$' <<<"$output"
	grep -Eq "^prefix +${SECRET:0:11}\.\.\.$" <<<"$output"
	grep -Eq '^status +active$' <<<"$output"
	grep -Eq '^rpm +600$' <<<"$output"
	grep -Eq '^tpm +unlimited$' <<<"$output"
	grep -Eq '^budget +none$' <<<"$output"
	grep -Eq '^models +gpt-4o\*,claude-\*$' <<<"$output"
	grep -Eq '^expires +never$' <<<"$output"
	local by_name=$output
	run_aigw keys show 1
	assert_ok
	assert_stdout "$by_name"
	run_aigw keys show 1 --json
	assert_ok
	jq -e '.id == 1 and .name == "ci" and .rpm == 600 and (has("key") | not)' <<<"$output" >/dev/null
	run_aigw keys show ci -q
	assert_ok
	assert_stdout ci
}

@test "show, update, rotate, revoke, delete of a missing key: exit 3" {
	create_key present
	snapshot_db
	run_aigw keys show nope
	assert_fail 3 "aigw keys: no key named 'nope'"
	run_aigw keys show 999
	assert_fail 3 "aigw keys: no key with id 999"
	run_aigw keys update nope --rpm 5
	assert_fail 3 "aigw keys: no key named 'nope'"
	run_aigw keys rotate nope
	assert_fail 3 "aigw keys: no key named 'nope'"
	run_aigw keys revoke 999
	assert_fail 3 "aigw keys: no key with id 999"
	run_aigw keys delete nope
	assert_fail 3 "aigw keys: no key named 'nope'"
	assert_db_unchanged
}

@test "update: each option" {
	create_key ci
	run_aigw keys update ci --rpm 100
	assert_status 0
	assert_stderr "aigw keys: updated key 'ci' (id 1)"
	assert_stdout_empty
	run_aigw keys update ci --tpm 2000 --json
	assert_ok
	jq -e '.rpm == 100 and .tpm == 2000' <<<"$output" >/dev/null
	run_aigw keys update ci --budget 25 --expires 2030-01-01 -q
	assert_ok
	assert_stdout ci
	run_aigw keys update ci --models 'gpt-4o*' --models 'claude-*' --json
	assert_ok
	jq -e '.models == ["gpt-4o*","claude-*"]' <<<"$output" >/dev/null
	run_aigw keys show ci --json
	jq -e '.budget_usd == 25 and .expires_at == "2030-01-01T00:00:00Z" and .rpm == 100 and .tpm == 2000' \
		<<<"$output" >/dev/null || fail "$output"
	[[ "$output" == *'"budget_usd":25.00'* ]]
	# limits back to none
	run_aigw keys update ci --rpm 0 --budget 0 --expires never --models '' --json
	assert_ok
	jq -e '.rpm == 0 and .budget_usd == null and .expires_at == null and .models == []' <<<"$output" >/dev/null ||
		fail "$output"
	# rename; the note names the new name
	run_aigw keys update ci --name deploy
	assert_status 0
	assert_stderr "aigw keys: updated key 'deploy' (id 1)"
	run_aigw keys show deploy -q
	assert_ok
	run_aigw keys show ci
	assert_fail 3 "aigw keys: no key named 'ci'"
	# the secret still matches the record
	[ "$(sql "select lower(hex(hash)) from keys where name = 'deploy'")" = "$(sha256_hex "$SECRET")" ]
}

@test "update with no option: nothing to update, exit 2" {
	create_key ci
	snapshot_db
	run_aigw keys update ci
	assert_fail 2 "aigw keys: nothing to update (give at least one option)"
	assert_db_unchanged
}

@test "update to a taken name fails and changes nothing" {
	create_key a
	create_key b
	snapshot_db
	run_aigw keys update b --name a
	assert_fail 1 "aigw keys: a key named 'a' already exists"
	assert_db_unchanged
}

@test "rotate: old revoked, new active, same policy, rotated_from" {
	create_key ci --rpm 600 --tpm 5000 --budget 25 --expires 2030-01-01 --models 'gpt-4o*,claude-*'
	local old=$SECRET
	run_aigw keys rotate ci --json
	assert_ok
	local new
	new=$(jq -r .key <<<"$output")
	[[ "$new" =~ $SECRET_RE ]]
	[ "$new" != "$old" ]
	jq -e '.id == 2 and .name == "ci" and .status == "active" and .rotated_from == 1
		and .rpm == 600 and .tpm == 5000 and .budget_usd == 25
		and .expires_at == "2030-01-01T00:00:00Z" and .models == ["gpt-4o*","claude-*"]' \
		<<<"$output" >/dev/null || fail "$output"

	run_aigw keys list --all --json
	assert_ok
	[ "$(jq -r '[.id, .status] | @tsv' <<<"$output")" = $'1\trevoked\n2\tactive' ]
	# the name now means the new key
	run_aigw keys show ci --json
	[ "$(jq .id <<<"$output")" = 2 ]
	# both hashes stored, neither secret
	[ "$(sql "select lower(hex(hash)) from keys where id = 1")" = "$(sha256_hex "$old")" ]
	[ "$(sql "select lower(hex(hash)) from keys where id = 2")" = "$(sha256_hex "$new")" ]
	[ "$(sqlite3 "$AIGW_DB" .dump | grep -c -e "$old" -e "$new")" -eq 0 ]

	# human form: the secret alone on stdout
	run_aigw keys rotate ci
	assert_status 0
	[[ "$output" =~ $SECRET_RE ]]
	assert_stderr "aigw keys: rotated key 'ci' (id 3); the secret above is shown only this once"
	run_aigw keys show 3 --json
	[ "$(jq .rotated_from <<<"$output")" = 2 ]
	run_aigw keys show 3
	grep -Eq '^rotated from +2$' <<<"$output"
}

@test "rotate of a revoked key fails" {
	create_key ci
	aigw keys revoke ci 2>/dev/null
	snapshot_db
	run_aigw keys rotate ci
	assert_fail 1 "aigw keys: key 'ci' is revoked and cannot be rotated"
	assert_db_unchanged
}

@test "revoke, then revoke again: exit 1; a revoked key cannot be updated" {
	create_key ci
	run_aigw keys revoke ci
	assert_status 0
	assert_stderr "aigw keys: revoked key 'ci' (id 1)"
	assert_stdout_empty
	run_aigw keys show ci --json
	jq -e '.status == "revoked" and .revoked_at != null' <<<"$output" >/dev/null
	snapshot_db
	run_aigw keys revoke ci
	assert_fail 1 "aigw keys: key 'ci' is already revoked"
	run_aigw keys revoke 1
	assert_fail 1 "aigw keys: key 'ci' is already revoked"
	run_aigw keys update ci --rpm 5
	assert_fail 1 "aigw keys: key 'ci' is revoked and cannot be changed"
	assert_db_unchanged
	# the record stays for the audit trail, hidden from the default list
	run_aigw keys list -q
	assert_stdout_empty
	run_aigw keys list --all -q
	assert_stdout ci
	# the name is free again
	create_key ci
	run_aigw keys list --all --json
	[ "$(jq -r '[.id, .status] | @tsv' <<<"$output")" = $'1\trevoked\n2\tactive' ]
}

@test "revoke --json and -q print the record" {
	create_key ci
	run_aigw keys revoke ci --json
	assert_ok
	jq -e '.status == "revoked" and (has("key") | not)' <<<"$output" >/dev/null
}

@test "delete removes the record, by name or id" {
	create_key a
	create_key b
	run_aigw keys delete a
	assert_status 0
	assert_stderr "aigw keys: deleted key 'a' (id 1)"
	run_aigw keys show a
	assert_fail 3 "aigw keys: no key named 'a'"
	run_aigw keys delete 2 -q
	assert_ok
	assert_stdout b
	[ "$(sql "select count(*) from keys")" -eq 0 ]
	run_aigw keys list --all
	assert_ok
	assert_stdout_empty
}

@test "delete of a revoked key and of a rotated-from key" {
	create_key ci
	aigw keys rotate ci -q >/dev/null
	run_aigw keys delete 1 -q
	assert_ok
	assert_stdout ci
	# the new key forgets what it replaced
	run_aigw keys show ci --json
	assert_ok
	[ "$(jq .rotated_from <<<"$output")" = null ]
}

@test "a live name is unique: create with a taken name fails" {
	create_key ci
	snapshot_db
	run_aigw keys create --name ci
	assert_fail 1 "aigw keys: a key named 'ci' already exists"
	assert_db_unchanged
}

@test "--expires: duration, date, datetime, never" {
	local now want
	now=$(date -u +%s)
	run_aigw keys create --name d30 --expires 30d --json
	assert_ok
	local exp
	exp=$(jq -r .expires_at <<<"$output")
	want=$(date -u -d "@$((now + 30 * 86400))" +%Y-%m-%d)
	[[ "$exp" == "$want"T* ]] || fail "30d gave $exp, want $want"
	local secs
	secs=$(date -u -d "$exp" +%s)
	[ $((secs - now - 30 * 86400)) -ge -5 ] && [ $((secs - now - 30 * 86400)) -le 5 ] || fail "$exp"

	run_aigw keys create --name h2 --expires 2h --json
	assert_ok
	secs=$(date -u -d "$(jq -r .expires_at <<<"$output")" +%s)
	[ $((secs - now - 7200)) -le 5 ] && [ $((secs - now - 7200)) -ge -5 ]

	run_aigw keys create --name date --expires 2031-12-31 --json
	assert_ok
	[ "$(jq -r .expires_at <<<"$output")" = 2031-12-31T00:00:00Z ]

	run_aigw keys create --name dt --expires 2031-12-31T23:59:59Z --json
	assert_ok
	[ "$(jq -r .expires_at <<<"$output")" = 2031-12-31T23:59:59Z ]

	run_aigw keys create --name nev --expires never --json
	assert_ok
	[ "$(jq -r .expires_at <<<"$output")" = null ]
}

@test "--expires: past date, zero, nonsense are usage errors and write nothing" {
	create_key first
	snapshot_db
	run_aigw keys create --name x --expires 2001-01-01
	assert_fail 2 "aigw keys: --expires: expiry '2001-01-01' is in the past"
	run_aigw keys create --name x --expires 0s
	assert_fail 2 "aigw keys: --expires: expiry '0s' is not in the future"
	run_aigw keys create --name x --expires tomorrow
	assert_fail 2 "aigw keys: --expires: 'tomorrow' is not an expiry (use a duration such as 30d, a date such as 2026-12-31, or never)"
	run_aigw keys create --name x --expires 2026-13-01
	assert_fail 2 "aigw keys: --expires: '2026-13-01' is not a date (use 2026-12-31 or 2026-12-31T23:59:59Z)"
	run_aigw keys update first --expires 2001-01-01
	assert_fail 2 "aigw keys: --expires: expiry '2001-01-01' is in the past"
	assert_db_unchanged
}

@test "--budget: dollars and cents; bad amounts refused" {
	run_aigw keys create --name b --budget 12.50 --json
	assert_ok
	[[ "$output" == *'"budget_usd":12.50'* ]] || fail "$output"
	run_aigw keys list
	[[ "${lines[1]}" == *'$12.50'* ]] || fail "${lines[1]}"
	run_aigw keys show b
	grep -Eq '^budget +\$12\.50$' <<<"$output"
	run_aigw keys create --name c --budget 0.5 --json
	[[ "$output" == *'"budget_usd":0.50'* ]] || fail "$output"

	snapshot_db
	run_aigw keys create --name x --budget abc
	assert_fail 2 "aigw keys: --budget: 'abc' is not an amount in USD (e.g. 25 or 0.50)"
	run_aigw keys create --name x --budget -5
	assert_fail 2 "aigw keys: --budget: '-5' is not an amount in USD (e.g. 25 or 0.50)"
	run_aigw keys create --name x --budget 1.2345678
	assert_fail 2 "aigw keys: --budget: amount '1.2345678' has more than 6 decimals"
	run_aigw keys update b --budget 12,50
	[ "$status" -eq 2 ] || fail "status $status"
	assert_stderr_match "^aigw keys: --budget: "
	assert_db_unchanged
}

@test "--rpm/--tpm: negative, too large and non-numbers refused" {
	create_key first
	snapshot_db
	run_aigw keys create --name x --rpm -1
	assert_fail 2 "aigw keys: --rpm: -1 is out of range (0..1000000000)"
	run_aigw keys create --name x --rpm 1000000001
	assert_fail 2 "aigw keys: --rpm: 1000000001 is out of range (0..1000000000)"
	run_aigw keys create --name x --rpm 1.5
	assert_fail 2 "aigw keys: --rpm: '1.5' is not a number"
	run_aigw keys create --name x --tpm abc
	assert_fail 2 "aigw keys: --tpm: 'abc' is not a number"
	run_aigw keys update first --tpm -3
	assert_fail 2 "aigw keys: --tpm: -3 is out of range (0..1000000000)"
	assert_db_unchanged
}

@test "--models: globs, comma lists and repeats; empty items refused" {
	run_aigw keys create --name m1 --models 'gpt-4o*,claude-*' --json
	assert_ok
	jq -e '.models == ["gpt-4o*","claude-*"]' <<<"$output" >/dev/null
	run_aigw keys create --name m2 --models 'gpt-?' --models 'llama3*' --json
	assert_ok
	jq -e '.models == ["gpt-?","llama3*"]' <<<"$output" >/dev/null
	run_aigw keys create --name m3 --models '' --json
	assert_ok
	jq -e '.models == []' <<<"$output" >/dev/null
	run_aigw keys list
	[[ "${lines[1]}" == *'gpt-4o*,claude-*'* ]]
	[[ "${lines[3]}" =~ \ all\ +-$ ]] || fail "${lines[3]}"

	snapshot_db
	run_aigw keys create --name x --models 'a,,b'
	assert_fail 2 "aigw keys: --models: empty item in list 'a,,b'"
	run_aigw keys update m1 --models 'gpt-4o,'
	assert_status 2
	assert_stderr_match "^aigw keys: --models: empty item in list"
	assert_db_unchanged
}

@test "invalid key names refused" {
	create_key first
	snapshot_db
	run_aigw keys create --name 'a b'
	assert_fail 2 "aigw keys: invalid key name 'a b' (1-64 of A-Z a-z 0-9 . _ -, not all digits)"
	run_aigw keys create --name 12345
	assert_fail 2 "aigw keys: invalid key name '12345' (1-64 of A-Z a-z 0-9 . _ -, not all digits)"
	run_aigw keys create --name "$(printf 'x%.0s' {1..65})"
	assert_status 2
	assert_stderr_match "^aigw keys: invalid key name 'x{65}'"
	run_aigw keys update first --name 'bad/name'
	assert_fail 2 "aigw keys: invalid key name 'bad/name' (1-64 of A-Z a-z 0-9 . _ -, not all digits)"
	assert_db_unchanged
	run_aigw keys create --name "a.b_c-1" -q
	assert_ok
}
