#!/usr/bin/env bash
# The routing proof: three `aigw mock` nodes behind `aigw serve`, an open
# loop of RATE requests/s for SECONDS (aigw bench --rate, latency counted
# from when each request was due), once per policy and scenario
# (scripts/bench/routing.scenarios). Prints, per scenario and policy, p50,
# p99 and p99.9 latency, client-visible errors, and the retries serve made
# (from its log) against the requests it took, and node a's share of the
# answers in the last third ("a last3": after a slow spell, has the
# policy noticed that a recovered?).
#
#   scripts/bench/routing.sh [SECONDS] [RATE] [POLICIES] [SCENARIOS]
#
# POLICIES: comma list (default round_robin,p2c,peak_ewma,adaptive; only
# those `aigw route add --policy` accepts are run). SCENARIOS: comma list
# of scenario names (default: all). The peer in the same run is the
# round_robin row: the ratios printed are p99(policy) / p99(round_robin)
# and p99(policy) / p99(p2c). Traffic stays on 127.0.0.1. Not a test.
# ROUTING_KEEP=DIR keeps each run's database (its request log) as
# DIR/SCENARIO-POLICY.db, for looking at where the requests went.
set -euo pipefail
dur=${1:-60}
rate=${2:-200}
policies=${3:-round_robin,p2c,peak_ewma,adaptive}
only=${4:-}
here=$(cd "$(dirname "$0")/../.." && pwd)
AIGW=${AIGW:-$here/aigw}
name=routing.sh
. "$(dirname "$0")/common.sh"
require_tools jq sqlite3

third=$((dur / 3))s

run_one() { # scenario-line policy
	local line=$1 policy=$2 sname ropts a b c i
	IFS='|' read -r sname ropts a b c <<<"$line"
	rm -rf "$work/run" && mkdir -p "$work/run"
	export AIGW_DB="$work/run/aigw.db"
	local opts=("$a" "$b" "$c") names=(a b c) mpids=()
	for i in 0 1 2; do
		# shellcheck disable=SC2086
		"$AIGW" mock --listen 127.0.0.1:0 --workers 1 --tokens 8 ${opts[$i]//DUR/$third} \
			>"$work/run/mock$i.out" 2>&1 &
		mpids+=($!)
		pids+=($!)
	done
	for i in 0 1 2; do
		wait_listen "$work/run/mock$i.out"
		"$AIGW" nodes add "${names[$i]}" --url "http://$(sed -n 's/^listening on //p' "$work/run/mock$i.out")/v1" \
			--provider openai -q >/dev/null
	done
	# shellcheck disable=SC2086
	if ! "$AIGW" route add chat --path /v1 --nodes a,b,c --policy "$policy" $ropts -q >/dev/null; then
		kill "${mpids[@]}" 2>/dev/null || true
		echo "$sname: policy $policy is not accepted by this aigw; skipped" >&2
		return 1
	fi
	local key
	key=$("$AIGW" keys create --name bench -q)
	"$AIGW" serve --listen 127.0.0.1:0 --workers 1 >"$work/run/serve.out" 2>"$work/run/serve.err" &
	local spid=$!
	pids+=($spid)
	wait_listen "$work/run/serve.out"
	local gw
	gw=$(sed -n 's/^listening on //p' "$work/run/serve.out")
	"$AIGW" bench "http://$gw/v1/chat/completions" --rate "$rate" -c 128 -d "${dur}s" \
		--body '{"model":"m","messages":[{"role":"user","content":"route me well"}]}' \
		-H "Authorization: Bearer $key" --json >"$work/run/bench.json" 2>/dev/null || true
	kill "$spid" "${mpids[@]}" 2>/dev/null || true
	wait "$spid" "${mpids[@]}" 2>/dev/null || true
	if [ -n "${ROUTING_KEEP:-}" ]; then
		mkdir -p "$ROUTING_KEEP" && cp "$work/run/aigw.db" "$ROUTING_KEEP/$sname-$policy.db"
		cp "$work/run/serve.err" "$ROUTING_KEEP/$sname-$policy.err"
	fi
	local retries share
	retries=$(grep -c 'retrying in' "$work/run/serve.err" || true)
	# node a's share of the answers in the last third (after a slow spell
	# ends: does the policy notice that the node recovered?)
	share=$(sqlite3 "$work/run/aigw.db" "with t as (select min(ts_ms) + $((dur * 2000 / 3)) as s
		from request_log) select round(100.0 * sum(node = 'a') / count(*), 1)
		from request_log, t where ts_ms >= t.s")
	jq -r --arg s "$sname" --arg p "$policy" --arg r "$retries" --arg a "${share:-0}" \
		'[$s, $p, .latency_us.p50, .latency_us.p99, .latency_us["p99.9"], .requests, (.requests - .ok), ($r | tonumber), ($a | tonumber)] | @tsv' \
		"$work/run/bench.json"
}

printf '%-12s %-12s %9s %9s %9s %8s %7s %8s %8s\n' scenario policy "p50 ms" "p99 ms" "p99.9 ms" requests errors retries "a last3"
grep -v '^#' "$(dirname "$0")/routing.scenarios" | grep -v '^$' | while IFS= read -r line; do
	sname=${line%%|*}
	if [ -n "$only" ] && [[ ",$only," != *",$sname,"* ]]; then continue; fi
	for policy in ${policies//,/ }; do
		run_one "$line" "$policy" >>"$work/table" || continue
		tail -1 "$work/table" | awk -F'\t' '{ printf "%-12s %-12s %9.1f %9.1f %9.1f %8d %7d %8d %7.1f%%\n",
			$1, $2, $3 / 1000, $4 / 1000, $5 / 1000, $6, $7, $8, $9 }'
	done
done
awk -F'\t' '{ p99[$1 "/" $2] = $4; s[$1] = 1; pol[$2] = 1 }
	END { for (x in s) for (p in pol) if ((x "/" p) in p99) {
		rr = p99[x "/round_robin"]; pc = p99[x "/p2c"];
		printf "%-12s %-12s p99 / round_robin %s   p99 / p2c %s\n", x, p,
			rr ? sprintf("%.2f", p99[x "/" p] / rr) : "-", pc ? sprintf("%.2f", p99[x "/" p] / pc) : "-" } }' \
	"$work/table" 2>/dev/null | sort
