#!/usr/bin/env bash
# install.sh: set up aigw on Debian 12 in one step.
#
#   ./install.sh                   install the packages it needs, build, install to /usr/local
#   ./install.sh --prefix ~/.local install into a user prefix (no root needed
#                                  when the packages are already there)
#   ./install.sh --no-install      packages and build only
#
# Idempotent: packages already present are not touched, and the build is
# incremental. Every step that fails says which one and why.
set -euo pipefail

prefix=/usr/local
do_install=1
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
		prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#--prefix=}; shift ;;
	--no-install) do_install=0; shift ;;
	-h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "install.sh: unknown option '$1' (see ./install.sh --help)" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")"
step() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# Build: compiler and the five libraries. Test: cmocka, bats, jq, sqlite3,
# curl, GNU parallel (bats runs files two at a time with it), and python3
# with openssl (bench.bats' HTTPS target: a self-signed certificate and a
# small TLS server); clang with
# its runtime (libFuzzer) builds the fuzz targets and checks that the code
# compiles with a second compiler.
packages="build-essential pkg-config clang libclang-rt-14-dev
libcurl4-openssl-dev libcjson-dev libsqlite3-dev libbearssl-dev libyaml-dev
libcmocka-dev bats jq sqlite3 curl parallel python3 openssl"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	step "installing Debian packages:$missing"
	if [ "$(id -u)" -eq 0 ]; then
		sudo=""
	elif command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		die "missing packages:$missing; install them as root with: apt-get install$missing"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q >/dev/null || die "apt-get update failed (is the network reachable?)"
	# shellcheck disable=SC2086
	$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null ||
		die "apt-get install failed for:$missing"
else
	step "Debian packages: all present"
fi

step "building aigw"
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null || die "build failed (run 'make' to see the compiler's message)"

if [ $do_install -eq 1 ]; then
	step "installing into $prefix"
	if ! mkdir -p "$prefix" 2>/dev/null || [ ! -w "$prefix" ]; then
		die "cannot write to $prefix: run as root, or choose a user prefix with --prefix ~/.local"
	fi
	make install PREFIX="$prefix" >/dev/null || die "make install failed"
	case ":$PATH:" in
	*":$prefix/bin:"*) ;;
	*) echo "note: $prefix/bin is not on your PATH" ;;
	esac
fi
step "done: $("$PWD/aigw" --version)"
