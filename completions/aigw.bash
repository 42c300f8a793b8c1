# bash completion for aigw. Every candidate comes from `aigw __complete`,
# which reads the same option tables as -h and the man pages, and the live
# node, route and key names from the database and aigw.yaml.
_aigw() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[0]##*/} out
	local -a words=("${COMP_WORDS[@]:1:COMP_CWORD}")
	# aigw-keys ... completes like aigw keys ...
	[[ $cmd == aigw-* ]] && words=("${cmd#aigw-}" "${words[@]}")
	out=$(aigw __complete "${words[@]}" 2>/dev/null)
	if [[ $out == ":file"* ]]; then
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	else
		mapfile -t COMPREPLY <<<"$out"
		[[ -z $out ]] && COMPREPLY=()
	fi
}
complete -F _aigw aigw aigw-bench aigw-keys aigw-mock aigw-nodes aigw-route aigw-serve aigw-stats # GENERATED: commands
