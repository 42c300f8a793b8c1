#!/usr/bin/env bash
# Regenerates the generated parts of the man pages and completion scripts
# from the binary's own tables, in place (or into DIR with --out DIR, which
# the drift test uses to compare).
#
# In a man page, a block
#     .\" BEGIN GENERATED: <aigw arguments>
#     ...
#     .\" END GENERATED
# is replaced by the output of `aigw <arguments>`. In completion scripts a
# line ending in "# GENERATED: commands" (and zsh's #compdef line) gets the
# command list spliced in.
set -eu
shopt -s nullglob
here=$(cd "$(dirname "$0")/.." && pwd)
AIGW=${AIGW:-$here/aigw}
out=$here
if [ "${1:-}" = "--out" ]; then
	out=$2
	mkdir -p "$out/man" "$out/completions"
fi

regen_man() { # src dst
	local src=$1 dst=$2 tmp
	tmp=$(mktemp)
	awk -v aigw="$AIGW" '
		/^\.\\" BEGIN GENERATED: / {
			print
			cmd = $0
			sub(/^\.\\" BEGIN GENERATED: /, "", cmd)
			full = aigw " " cmd
			while ((full | getline line) > 0) print line
			if (close(full) != 0) { print "generator failed: " cmd > "/dev/stderr"; exit 1 }
			skipping = 1
			next
		}
		/^\.\\" END GENERATED/ { skipping = 0 }
		!skipping { print }
	' "$src" >"$tmp"
	mv "$tmp" "$dst"
}

commands=$("$AIGW" --list | tr '\n' ' ' | sed 's/ $//')

regen_completion() { # src dst
	local src=$1 dst=$2 tmp names="aigw"
	for c in $commands; do names="$names aigw-$c"; done
	tmp=$(mktemp)
	while IFS= read -r line; do
		case "$line" in
		*"# GENERATED: commands")
			# Keep the words before the trailing aigw / aigw-<cmd> names.
			read -r -a words <<<"${line%# GENERATED: commands}"
			while [ ${#words[@]} -gt 0 ] && [[ ${words[-1]} =~ ^aigw(-[a-z]+)?$ ]]; do
				unset 'words[-1]'
			done
			printf '%s %s # GENERATED: commands\n' "${words[*]}" "$names" ;;
		"#compdef "*) printf '#compdef %s\n' "$names" ;; # zsh reads every word
		*) printf '%s\n' "$line" ;;
		esac
	done <"$src" >"$tmp"
	mv "$tmp" "$dst"
}

for f in "$here"/man/*.[0-9]; do
	regen_man "$f" "$out/man/$(basename "$f")"
done
for f in "$here"/completions/*; do
	regen_completion "$f" "$out/completions/$(basename "$f")"
done
