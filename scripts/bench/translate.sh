#!/usr/bin/env bash
# What translating a provider's stream costs per chunk: "a translated
# stream costs the gateway next to nothing against the time between two
# tokens".
#
# translate_bench.c (built here against build/libaigw.a) makes, for each
# provider (openai with its usage filter, anthropic, gemini, ollama), a
# realistic stream of TOKENS text deltas in the provider's wire format and
# times aigw_pstream_feed over it in READ-byte pieces. The peers, on the
# same bytes in the same run: relaying them (memcpy into an aigw_buf, what
# a passthrough costs) and parsing them with lib/sse alone (the floor of
# any translator). Prints ns per chunk, chunks/s, the ratio
# translate/relay and the share of a GAP_MS inter-token gap. A provider
# whose adapter cannot stream yet is skipped, with the reason.
#
#   scripts/bench/translate.sh [TOKENS] [RUNS] [GAP_MS] [READ]
#
# Nothing listens on the network. Not a test: it prints figures.
set -euo pipefail
tokens=${1:-100000}
runs=${2:-5}
gap_ms=${3:-20}
read_bytes=${4:-16384}
here=$(cd "$(dirname "$0")/../.." && pwd)
name=translate.sh
. "$(dirname "$0")/common.sh"
require_tools cc
[ -f "$here/build/libaigw.a" ] || { echo "$name: build/libaigw.a missing: run make" >&2; exit 1; }

cc -std=c11 -D_GNU_SOURCE -O2 -I"$here/lib" -I/usr/include/cjson -o "$work/translate_bench" \
	"$here/scripts/bench/translate_bench.c" "$here/build/libaigw.a" \
	-lsqlite3 -lyaml -lcjson -lbearssl -lpthread -lm
"$work/translate_bench" "$tokens" "$runs" "$gap_ms" "$read_bytes"
