# fish completion for aigw: candidates come from `aigw __complete`.
function __aigw_complete
	set -l toks (commandline -opc)
	set -l cur (commandline -ct)
	set -l cmd (basename -- $toks[1])
	set -l words $toks[2..-1] $cur
	if string match -q 'aigw-*' -- $cmd
		set words (string replace 'aigw-' '' -- $cmd) $words
	end
	set -l out (aigw __complete $words 2>/dev/null)
	if test "$out[1]" = ":file"
		__fish_complete_path $cur
	else
		printf '%s\n' $out
	end
end
for c in aigw aigw-bench aigw-keys aigw-mock aigw-nodes aigw-route aigw-serve aigw-stats # GENERATED: commands
	complete -c $c -f -a '(__aigw_complete)'
end
