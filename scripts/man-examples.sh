#!/usr/bin/env bash
# Runs the EXAMPLES of a man page as written, in order, in a fresh state
# directory (as jq tests its manual). Used by testdata/docs.bats.
#
# Inside the EXAMPLES section, between .nf and .fi:
#   - a line starting with "$ " is a command (a here-document that starts
#     with <<'EOF' continues it up to the line EOF);
#   - the lines after it, up to a blank line or the next command, are its
#     expected output.
# A command with no expected output must exit 0 and print nothing on
# stdout. A command with expected output that exits 0 must print exactly
# that on stdout; one that fails must print it (stdout then stderr) and its
# expected output must start with "aigw ", the way errors look.
# Roff escapes used in examples (\- \e \(aq \&) are undone first.
set -u
page=$1
AIGW=${AIGW:?AIGW must name the binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/run" "$work/state"
ln -s "$AIGW" "$work/bin/aigw"

unroff() { sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\&//g' -e 's/\\e/\\/g'; }

# Splits the examples into files: N.cmd and N.out.
awk -v dir="$work" '
	/^\.SH / { in_ex = ($0 ~ /^\.SH EXAMPLES/) ; next }
	!in_ex { next }
	/^\.nf/ { in_nf = 1; next }
	/^\.fi/ { in_nf = 0; heredoc = 0; mode = ""; next }
	!in_nf { next }
	heredoc { print > cmd; if ($0 == "EOF") heredoc = 0; next }
	/^\$ / {
		n++
		cmd = dir "/" n ".cmd"; out = dir "/" n ".out"
		printf "" > out
		print substr($0, 3) > cmd
		if ($0 ~ /<<.EOF.$/) heredoc = 1
		mode = "out"
		next
	}
	/^$/ { mode = ""; next }
	mode == "out" { print > out }
	END { print n + 0 > (dir "/count") }
' "$page"

count=$(cat "$work/count")
[ "$count" -gt 0 ] || { echo "no examples in $page"; exit 1; }
fail=0
for i in $(seq 1 "$count"); do
	cmd=$(unroff <"$work/$i.cmd")
	want=$(unroff <"$work/$i.out")
	got=$(cd "$work/run" && env -i PATH="$work/bin:/usr/bin:/bin" HOME="$work" \
		AIGW_DB="$work/state/aigw.db" LC_ALL=C.UTF-8 TZ=UTC \
		bash -o pipefail -c "$cmd" 2>"$work/err")
	rc=$?
	if [ $rc -ne 0 ]; then
		got=$(printf '%s\n%s' "$got" "$(cat "$work/err")" | sed '/./,$!d')
		if [ -z "$want" ] || [ "${want#aigw }" = "$want" ]; then
			echo "example $i failed (exit $rc): $cmd"
			cat "$work/err"
			fail=1
			continue
		fi
	fi
	if [ "$got" != "$want" ]; then
		echo "example $i: $cmd"
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/  /'
		fail=1
	fi
done
exit $fail
