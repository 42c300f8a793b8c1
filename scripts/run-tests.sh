#!/usr/bin/env bash
# Runs every unit test binary in BUILD/test and every bats file in testdata/,
# then prints one summary line over all of them: "N passed, N failed".
# Both kinds report TAP, so one counter serves them all.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export AIGW=${AIGW:-$here/aigw}
export CMOCKA_MESSAGE_OUTPUT=TAP
passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # name, then TAP on stdin; echoes it and tallies ok / not ok
	local name=$1 line p=0 f=0 s=0
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		*"# SKIP"* | *"# skip"*) s=$((s + 1)) ;;
		"not ok"*) f=$((f + 1)) ;;
		"ok "*) p=$((p + 1)) ;;
		esac
	done
	echo "$p $f $s" >>"$log"
}

for t in "$build"/test/*_test; do
	[ -x "$t" ] || continue
	echo "# unit: $(basename "$t")"
	# cmocka exits with the number of failures; a crash (a sanitizer
	# report, a signal) is a failure of its own that no TAP line shows.
	{ "$t" 2>&1; rc=$?; [ $rc -ge 128 ] && echo "not ok - $(basename "$t") crashed (status $rc)"; } | count "$t"
done

if [ -n "$(ls testdata/*.bats 2>/dev/null)" ]; then
	echo "# end-to-end: bats ($(ls testdata/*.bats | wc -l) files)"
	jobs=1
	command -v parallel >/dev/null 2>&1 && jobs=2
	if [ $jobs -gt 1 ]; then
		bats --tap --jobs $jobs testdata/*.bats 2>&1 | count bats
	else
		bats --tap testdata/*.bats 2>&1 | count bats
	fi
fi

skipped=0
while read -r p f s; do
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done <"$log"
# The last line is exactly "N passed, N failed"; skips are said just before.
[ "$skipped" -eq 0 ] || echo "($skipped skipped: see the ok ... # skip lines above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
