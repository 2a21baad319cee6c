#!/usr/bin/env bash
# bench.sh: install what the load harness runs, then run it (bench/harness).
#
#   scripts/bench.sh load [flags]          keygate against a bare ReverseProxy (and nginx) with wrk
#   scripts/bench.sh paired [flags]        CPU per request with and without authentication, at once
#   scripts/bench.sh instructions [flags]  instructions per request under callgrind
#   scripts/bench.sh SUBCOMMAND -h         the flags
#
# Everything else (building, servers, measuring, the markdown report) is
# the Go program; see docs/benchmarks.md. This script only installs, as
# root with apt-get, what the subcommand needs and is missing: wrk (load),
# nginx-light (when nginx is among the targets), redis-server (the
# keygate-rl-* and keygate-sidecar* targets), valgrind and curl (instructions).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sub=${1:-}
need=()
want() { # want COMMAND PACKAGE
	command -v "$1" >/dev/null || need+=("$2")
}
case $sub in
load)
	want wrk wrk
	[[ " $* " != *nginx* ]] || want nginx nginx-light
	[[ " $* " != *keygate-rl-* && " $* " != *keygate-sidecar* ]] || want redis-server redis-server
	;;
paired) ;;
instructions)
	want valgrind valgrind
	want curl curl
	[[ " $* " == *-targets* && " $* " != *nginx* ]] || want nginx nginx-light
	;;
*)
	echo "usage: scripts/bench.sh load|paired|instructions [flags]" >&2
	exit 2
	;;
esac
if ((${#need[@]})); then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "bench: installing ${need[*]}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2 ||
			{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2; }
	else
		echo "bench: missing ${need[*]} (apt-get install ${need[*]}); the harness says which it needs" >&2
	fi
fi

mkdir -p "$ROOT/bin"
(cd "$ROOT" && go build -o bin/bench-harness ./bench/harness)
cd "$ROOT"
exec bin/bench-harness "$@"
