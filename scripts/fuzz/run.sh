#!/bin/sh
# Builds the libFuzzer targets (with ASan + UBSan) and runs them for N
# seconds in all (default 10), split between them:
#   http_fuzz     the HTTP parser (lib/http.c), over testdata/fuzz/http
#   pstream_fuzz  the provider adapters' answer and stream translators
#                 (lib/provider/), over testdata/fuzz/pstream-<provider>
# Each runs over a scratch copy of its seeds, so that the seed corpora in
# git stay small. Exits non-zero on a crash; the crashing input is left in
# build/fuzz/ (crash-*), to be replayed with, e.g.,
#   build/fuzz/pstream_fuzz build/fuzz/crash-...
#
# The lib sources are compiled here rather than taken from libaigw.a: the
# library objects carry no coverage instrumentation, and without it the
# fuzzer is blind.
set -eu

seconds=${1:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/fuzz
cc=${CC_FUZZ:-clang}
flags="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ilib"

# Half the time each (at least a second).
http_s=$((seconds / 2))
[ "$http_s" -ge 1 ] || http_s=1
pstream_s=$((seconds - http_s))
[ "$pstream_s" -ge 1 ] || pstream_s=1

mkdir -p "$out"
cd "$root"
# shellcheck disable=SC2086
$cc $flags scripts/fuzz/http_fuzz.c lib/http.c lib/buf.c lib/mem.c -o "$out/http_fuzz"
# The adapters and what they use; lib/provider/*.c takes in every adapter.
# shellcheck disable=SC2086
$cc $flags -I/usr/include/cjson scripts/fuzz/pstream_fuzz.c lib/provider.c lib/provider/*.c \
	lib/json.c lib/sse.c lib/buf.c lib/mem.c lib/err.c lib/str.c lib/rand.c \
	-lcjson -lm -o "$out/pstream_fuzz"

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir "$corpus/http" "$corpus/pstream"
cp testdata/fuzz/http/* "$corpus/http"/
for d in testdata/fuzz/pstream-*; do
	for f in "$d"/*; do cp "$f" "$corpus/pstream/$(basename "$d")-$(basename "$f")"; done
done

"$out/http_fuzz" -max_total_time="$http_s" -max_len=4096 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$out/" "$corpus/http"
"$out/pstream_fuzz" -max_total_time="$pstream_s" -max_len=8192 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$out/" "$corpus/pstream"
