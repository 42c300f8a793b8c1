# Shared setup for the end-to-end tests: `load helpers` in every .bats file.
#
# Each test runs in its own empty directory (also its HOME, XDG_STATE_HOME
# and XDG_CONFIG_HOME), with AIGW_DB pointing inside it, so no test sees
# another's state, a stray ./aigw.yaml or the user's own files. The binary
# under test is "$AIGW" (an absolute path; the ASan build sets it to
# build-san/aigw), never ./aigw.

# shellcheck disable=SC2034 # status, lines, stderr..., BATS_*: read by bats and the tests
: "${AIGW:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/aigw}"
export AIGW
FIXTURES="$BATS_TEST_DIRNAME/fixtures"

# Under `bats --jobs N`, run each file's tests one after another and the
# files side by side: starting every test as its own parallel job costs
# more than the tests (about twice the wall time on two cores).
BATS_NO_PARALLELIZE_WITHIN_FILE=true

aigw_setup() {
	TEST_DIR="${BATS_TEST_TMPDIR:-}"
	if [ -z "$TEST_DIR" ]; then
		TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/aigw-test.XXXXXX")
		AIGW_OWN_TMP=1
	fi
	export TEST_DIR
	export HOME="$TEST_DIR/home"
	export XDG_STATE_HOME="$TEST_DIR/xdg-state"
	export XDG_CONFIG_HOME="$TEST_DIR/xdg-config"
	mkdir -p "$HOME" "$TEST_DIR/state" "$TEST_DIR/work"
	export AIGW_DB="$TEST_DIR/state/aigw.db"
	unset AIGW_CONFIG NO_COLOR
	# Sanitizer builds: report leaks and errors as failures, stay quiet otherwise.
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
	cd "$TEST_DIR/work" || return 1
	[ -x "$AIGW" ] || {
		echo "AIGW='$AIGW' is not an executable" >&2
		return 1
	}
}

aigw_teardown() {
	if [ -n "${AIGW_OWN_TMP:-}" ] && [ -n "${TEST_DIR:-}" ]; then
		chmod -R u+rwx "$TEST_DIR" 2>/dev/null
		rm -rf "$TEST_DIR"
	fi
}

# Files may define their own setup/teardown and call these.
setup() { aigw_setup; }
teardown() { aigw_teardown; }

aigw() { "$AIGW" "$@"; }

# runx CMD [ARG...]: like bats' `run --separate-stderr CMD...`: sets status,
# output and lines (stdout), stderr and stderr_lines, never fails itself.
# It runs the command without the subshells and temporary files of `run`,
# which cost more than aigw itself; with some 600 runs that decides whether
# the suite takes 20 seconds or a minute and a half.
runx() {
	local out="$TEST_DIR/.runx.out" err="$TEST_DIR/.runx.err"
	status=0
	"$@" >"$out" 2>"$err" || status=$?
	output='' stderr=''
	IFS= read -r -d '' output <"$out" || true
	IFS= read -r -d '' stderr <"$err" || true
	# like $(...): trailing newlines dropped
	while [[ $output == *$'\n' ]]; do output=${output%$'\n'}; done
	while [[ $stderr == *$'\n' ]]; do stderr=${stderr%$'\n'}; done
	lines=() stderr_lines=()
	[ -z "$output" ] || mapfile -t lines <<<"$output"
	[ -z "$stderr" ] || mapfile -t stderr_lines <<<"$stderr"
	return 0
}

# run_aigw ARG...: runx "$AIGW" ARG...
run_aigw() { runx "$AIGW" "$@"; }

# ---------------------------------------------------------------- database

# The state of the database as one line per file: a checksum, or "absent".
# The -wal file counts too (a write may sit there until a checkpoint); the
# -shm index does not (readers touch it).
db_state() {
	local db=${1:-$AIGW_DB} f
	for f in "$db" "$db-wal" "$db-journal"; do
		if [ -e "$f" ]; then
			printf '%s %s\n' "${f##*/}" "$(sha256sum <"$f" | cut -d' ' -f1)"
		else
			printf '%s absent\n' "${f##*/}"
		fi
	done
}

# snapshot_db [DB]: remember the database's state; assert_db_unchanged
# compares against it.
snapshot_db() { DB_BEFORE=$(db_state "${1:-$AIGW_DB}"); }

assert_db_unchanged() {
	local now
	now=$(db_state "${1:-$AIGW_DB}")
	if [ "$now" != "$DB_BEFORE" ]; then
		echo "database changed:" >&2
		echo "before: $DB_BEFORE" >&2
		echo "after:  $now" >&2
		return 1
	fi
}

assert_no_db() {
	local db=${1:-$AIGW_DB}
	if [ -e "$db" ]; then
		echo "database '$db' was created" >&2
		ls -la "$(dirname "$db")" >&2
		return 1
	fi
}

# Runs SQL on the database with the sqlite3 shell.
sql() { sqlite3 "$AIGW_DB" "$@"; }

# ---------------------------------------------------------------- asserts

fail() {
	printf '%s\n' "$*" >&2
	return 1
}

# Prints what run_aigw (or `run`) captured, for failing assertions.
dump_run() {
	{
		echo "status: ${status-}"
		echo "stdout: ${output-}"
		[ -n "${stderr+x}" ] && echo "stderr: ${stderr-}"
	} >&2
}

assert_status() {
	[ "$status" -eq "$1" ] || {
		echo "expected status $1" >&2
		dump_run
		return 1
	}
}

# assert_stderr "line": stderr (from run_aigw) is exactly that
# one line.
assert_stderr() {
	[ "${stderr-}" = "$1" ] || {
		echo "expected stderr: $1" >&2
		dump_run
		return 1
	}
}

# assert_stderr_match REGEX: stderr is one line matching the regex.
assert_stderr_match() {
	[ "${#stderr_lines[@]}" -eq 1 ] && [[ "$stderr" =~ $1 ]] || {
		echo "expected one stderr line matching: $1" >&2
		dump_run
		return 1
	}
}

assert_stdout() {
	[ "$output" = "$1" ] || {
		echo "expected stdout: $1" >&2
		dump_run
		return 1
	}
}

assert_stdout_empty() { assert_stdout ""; }

# assert_fail STATUS "message": the command failed with that status, said
# exactly that one line on stderr and nothing on stdout.
assert_fail() {
	assert_status "$1" && assert_stderr "$2" && assert_stdout_empty
}

# assert_ok: status 0 and nothing on stderr (sanitizer reports land there).
assert_ok() {
	assert_status 0 && assert_stderr ""
}

# assert_lines N TEXT: TEXT has N lines.
assert_lines() {
	local n
	n=$(printf '%s' "$2" | grep -c '' || true)
	[ "$n" -eq "$1" ] || {
		echo "expected $1 lines, got $n: $2" >&2
		return 1
	}
}

# Each line of stdout is a JSON object (jq -e fails otherwise).
assert_json_lines() {
	local line
	while IFS= read -r line; do
		printf '%s' "$line" | jq -e 'type == "object"' >/dev/null || {
			echo "not one JSON object: $line" >&2
			return 1
		}
	done <<<"$output"
}

# ---------------------------------------------------------------- fixtures

# fixture NAME [DEST]: copies testdata/fixtures/NAME into the working
# directory (under its own name, or DEST), so messages name it relatively.
fixture() {
	cp "$FIXTURES/$1" "${2:-$1}"
}

# Creates nodes a, b (standby) and c (serves llama* only).
make_nodes() {
	aigw nodes add a --url http://127.0.0.1:9001 --provider openai-compatible -q >/dev/null &&
		aigw nodes add b --url http://127.0.0.1:9002 --provider openai-compatible --standby -q >/dev/null &&
		aigw nodes add c --url http://127.0.0.1:9003 --provider ollama --models 'llama*' -q >/dev/null
}

sha256_hex() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
