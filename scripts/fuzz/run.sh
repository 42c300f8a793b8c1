#!/bin/sh
# Builds the HTTP parser fuzz target (libFuzzer + ASan + UBSan) and runs it
# for N seconds (default 10) over a scratch copy of testdata/fuzz/http, so
# that the seed corpus in git stays small. Exits non-zero on a crash; the
# crashing input is left in build/fuzz/ (crash-*), to be replayed with
#   build/fuzz/http_fuzz build/fuzz/crash-...
#
# The lib sources are compiled here rather than taken from libaigw.a: the
# library objects carry no coverage instrumentation, and without it the
# fuzzer is blind.
set -eu

seconds=${1:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/fuzz
cc=${CC_FUZZ:-clang}

mkdir -p "$out"
cd "$root"
$cc -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Ilib scripts/fuzz/http_fuzz.c lib/http.c lib/buf.c lib/mem.c \
	-o "$out/http_fuzz"

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp testdata/fuzz/http/* "$corpus"/

"$out/http_fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$out/" "$corpus"
