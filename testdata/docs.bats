#!/usr/bin/env bats
# Docs, completions and the option tables must say the same thing, and the
# man pages' EXAMPLES must run as written.

setup() {
	export ROOT="$BATS_TEST_DIRNAME/.."
	export AIGW=${AIGW:-$ROOT/aigw}
	work=$(mktemp -d)
	export AIGW_DB="$work/aigw.db"
	unset AIGW_CONFIG
	cd "$work"
}

teardown() {
	rm -rf "$work"
}

@test "docs: man pages and completion scripts are what the tables generate" {
	AIGW="$AIGW" "$ROOT/scripts/gen-docs.sh" --out "$work/gen"
	run diff -r "$ROOT/man" "$work/gen/man"
	[ "$status" -eq 0 ] || { echo "$output"; echo "run 'make docs' and commit"; false; }
	run diff -r "$ROOT/completions" "$work/gen/completions"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

# Options of CMD VERB as three sources see them, one per line, sorted.
opts_from_help() { "$AIGW" "$1" "$2" -h | sed -n '/^options:/,/^$/p' | grep -o -- '--[a-z-]*' | grep -v -- '^--no-' | sort -u; }
opts_from_completion() {
	"$AIGW" __complete "$1" "$2" -- | grep -v -- '^--no-' |
		grep -vxE -- '--(db|config|json|quiet|help|version)' | sort -u
}
opts_from_man() { # options whose "Used by:" names the verb
	awk -v verb="$2" '
		/^\.TP/ { getline head; getline body; if (body ~ ("Used by: (.*, )?" verb "([,.]|$)")) print head }
	' "$ROOT/man/aigw-$1.1" | sed 's/\\-/-/g' | grep -o -- '--[a-z-]*' | grep -v -- '^--no-' | sort -u
}

@test "docs: -h, completion and the man page list the same options for every verb" {
	for cmd in $("$AIGW" --list); do
		for verb in $("$AIGW" __complete "$cmd" ""); do
			h=$(opts_from_help "$cmd" "$verb")
			c=$(opts_from_completion "$cmd" "$verb")
			m=$(opts_from_man "$cmd" "$verb")
			[ "$h" = "$c" ] || { echo "$cmd $verb: -h [$h] vs completion [$c]"; false; }
			[ "$h" = "$m" ] || { echo "$cmd $verb: -h [$h] vs man [$m]"; false; }
			# The SYNOPSIS line of the verb is its -h usage line.
			usage=$("$AIGW" "$cmd" "$verb" -h | sed -n 's/^usage: //p')
			syn=$(grep -F "\\fBaigw $cmd $verb\\fR" "$ROOT/man/aigw-$cmd.1" |
				sed -e 's/\\f[BIR]//g' -e 's/\\-/-/g')
			[ "$usage" = "$syn" ] || { echo "usage [$usage] vs synopsis [$syn]"; false; }
		done
	done
}

@test "docs: every command has a man page, a completion entry and an installed link" {
	# -o: install the binary under test as it is, never rebuild it here
	make -C "$ROOT" -s -o "$AIGW" install PREFIX="$work/prefix" AIGW_BIN="$AIGW" >/dev/null
	for cmd in $("$AIGW" --list); do
		[ -f "$ROOT/man/aigw-$cmd.1" ]
		[ -L "$work/prefix/bin/aigw-$cmd" ]
		[ -f "$work/prefix/share/man/man1/aigw-$cmd.1" ]
		grep -q "aigw-$cmd" "$ROOT/completions/aigw.bash"
		grep -q "aigw-$cmd" "$ROOT/completions/_aigw"
		grep -q "aigw-$cmd" "$ROOT/completions/aigw.fish"
		grep -q "^\.BR aigw\\\\-$cmd (1)" "$ROOT/man/aigw.1"
	done
	# and nothing more: no link or page for a command that does not exist
	links=$(cd "$work/prefix/bin" && ls aigw-* | sed 's/^aigw-//' | sort)
	[ "$links" = "$("$AIGW" --list | sort)" ]
}

@test "docs: every directive of the config tables is in aigw.yaml(5)" {
	for d in $("$AIGW" __doc yaml | sed -n 's/^\.B //p'); do
		grep -q "^\.B $d\$" "$ROOT/man/aigw.yaml.5"
	done
}

@test "completion (bash): commands, verbs, options, choices and live names" {
	"$AIGW" nodes add alpha --url http://127.0.0.1:9 --provider openai
	"$AIGW" nodes add beta --url http://127.0.0.1:9 --provider openai
	"$AIGW" keys create --name ci -q >/dev/null
	complete_words() { # words...; prints COMPREPLY
		bash -c '
			aigw() { "$AIGW" "$@"; }
			compopt() { :; }
			complete() { :; }
			source "$1"; shift
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
			_aigw
			printf "%s\n" "${COMPREPLY[@]}"' _ "$ROOT/completions/aigw.bash" "$@"
	}
	run complete_words aigw ke
	[ "$output" = "keys" ]
	run complete_words aigw nodes dr
	[ "$output" = "drain" ]
	run complete_words aigw nodes show ""
	[ "$output" = "$(printf 'alpha\nbeta')" ]
	run complete_words aigw keys rotate ""
	[ "$output" = "ci" ]
	run complete_words aigw nodes add x --provider o
	[ "$output" = "$(printf 'openai\nopenai-compatible\nollama')" ]
	run complete_words aigw route add r --max
	[ -z "$output" ]
	run complete_words aigw keys create --r
	[ "$output" = "--rpm" ]
	run complete_words aigw-nodes show al
	[ "$output" = "alpha" ]
	# live names come from the database named on the command line
	run complete_words aigw --db "$work/other.db" nodes show ""
	[ -z "$output" ]
	[ ! -e "$work/other.db" ]
}

@test "completion: __complete is hidden and offers nothing for unknown commands" {
	run "$AIGW" --list
	[[ "$output" != *complete* ]]
	run "$AIGW" __complete nosuch ""
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "man aigw(1): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw.1"
}

@test "man aigw-bench(1): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw-bench.1"
}

@test "man aigw-keys(1): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw-keys.1"
}

@test "man aigw-nodes(1): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw-nodes.1"
}

@test "man aigw-route(1): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw-route.1"
}

@test "man aigw.yaml(5): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw.yaml.5"
}

@test "man aigw-stats(1): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw-stats.1"
}

@test "man aigw-serve(1): EXAMPLES run as written" {
	AIGW="$AIGW" "$ROOT/scripts/man-examples.sh" "$ROOT/man/aigw-serve.1"
}
