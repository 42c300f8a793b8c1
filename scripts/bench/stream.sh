#!/usr/bin/env bash
# Streams through the gateway, translated and not: does translating a
# provider's stream cost the client anything it can measure?
#
# Four aigw mocks stream the same answers (TOKENS tokens at RATE tokens/s
# after a 20 ms first token), one per wire format: OpenAI, Anthropic,
# Gemini, Ollama. aigw bench (--stream, CONNECTIONS streams at a time)
# reads them straight from the OpenAI mock, through nginx (proxy_pass,
# buffering off: the peer, relaying bytes), through aigw serve to the
# OpenAI mock (relayed), and through aigw serve to each of the other three
# (translated chunk by chunk). Prints time to first token, inter-token
# latency and tokens/s per path, and what each adds to the direct path.
#
#   scripts/bench/stream.sh [SECONDS] [CONNECTIONS] [TOKENS] [RATE]
#
# Traffic stays on 127.0.0.1; everything started here is stopped on exit.
# Not a test: it prints figures.
set -euo pipefail
dur=${1:-5}
conns=${2:-50}
tokens=${3:-64}
rate=${4:-200}
here=$(cd "$(dirname "$0")/../.." && pwd)
AIGW=${AIGW:-$here/aigw}
name=stream.sh
. "$(dirname "$0")/common.sh"
require_tools nginx jq

export AIGW_DB="$work/aigw.db" MOCK_KEY=bench-secret
declare -A mock
for d in openai anthropic gemini ollama; do
	"$AIGW" mock --listen 127.0.0.1:0 --workers 1 --dialect "$d" --tokens "$tokens" \
		--tokens-per-sec "$rate" --ttft 20ms >"$work/mock-$d.out" 2>&1 &
	pids+=($!)
	wait_listen "$work/mock-$d.out"
	mock[$d]=$(sed -n 's/^listening on //p' "$work/mock-$d.out")
	url="http://${mock[$d]}"
	[ "$d" = openai ] && url="$url/v1"
	"$AIGW" nodes add "n-$d" --url "$url" --provider "$d" --api-key-env MOCK_KEY --models "m-$d" -q >/dev/null
	"$AIGW" route add "r-$d" --path /v1 --model "m-$d" --nodes "n-$d" -q >/dev/null
done
key=$("$AIGW" keys create --name bench -q)
"$AIGW" serve --listen 127.0.0.1:0 --workers 1 >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
wait_listen "$work/serve.out"
gw=$(sed -n 's/^listening on //p' "$work/serve.out")

nport=$(free_port)
start_nginx_proxy "$nport" "${mock[openai]}"
sleep 0.5

# path label -> URL and model
paths=("direct openai" "nginx -> openai" "aigw -> openai" "aigw -> anthropic" "aigw -> gemini"
	"aigw -> ollama")
declare -A U=(["direct openai"]="http://${mock[openai]}" ["nginx -> openai"]="http://127.0.0.1:$nport"
	["aigw -> openai"]="http://$gw" ["aigw -> anthropic"]="http://$gw" ["aigw -> gemini"]="http://$gw"
	["aigw -> ollama"]="http://$gw")
declare -A M=(["direct openai"]=m-openai ["nginx -> openai"]=m-openai ["aigw -> openai"]=m-openai
	["aigw -> anthropic"]=m-anthropic ["aigw -> gemini"]=m-gemini ["aigw -> ollama"]=m-ollama)

echo "$conns streams at a time, $tokens tokens at $rate tokens/s each (20 ms to the first), ${dur}s per path"
printf '%-20s %9s %9s %9s %9s %11s %7s\n' path "ttft p50" "ttft p99" "itl p50" "itl p99" "tokens/s" errors
for p in "${paths[@]}"; do
	body="{\"model\":\"${M[$p]}\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"tell me a story about a gateway\"}]}"
	"$AIGW" bench "${U[$p]}/v1/chat/completions" --stream -c "$conns" -d "${dur}s" --body "$body" \
		-H "Authorization: Bearer $key" --json 2>/dev/null >"$work/run.json" || true
	jq -r --arg p "$p" '[$p, .llm.ttft_us.p50, .llm.ttft_us.p99, .llm.itl_us.p50, .llm.itl_us.p99,
		.llm.output_tokens_per_sec, (.requests - .ok)] | @tsv' "$work/run.json" >>"$work/table"
	tail -1 "$work/table" | awk -F'\t' '{ printf "%-20s %7.1fms %7.1fms %7.2fms %7.2fms %11.0f %7d\n",
		$1, $2 / 1000, $3 / 1000, $4 / 1000, $5 / 1000, $6, $7 }'
done
awk -F'\t' 'NR == 1 { t50 = $2; i99 = $5 } NR > 1 { printf "%-20s adds ttft p50 %+.2f ms, itl p99 %+.2f ms\n",
	$1, ($2 - t50) / 1000, ($5 - i99) / 1000 }' "$work/table"
