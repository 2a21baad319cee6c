#!/usr/bin/env bash
# instructions.sh: count the user-space instructions each target spends per
# proxied request, with valgrind's callgrind, and print them as markdown for
# docs/benchmarks.md.
#
# wrk's requests/s on this shared 2-core machine move by 10-20 % between
# rounds a minute apart, too much to tell a 5 % difference. An instruction
# count does not move: the same binary, config and requests give the same
# count to within a few tenths of a per cent. It is not a time (a cache miss
# or a system call costs far more than an instruction, and the kernel's
# work, about a third of a proxy's CPU here, is not counted), so it answers
# "how much more work does X do than Y in the process", and bench.sh still
# answers "how fast".
#
# Each target runs alone under callgrind, on loopback, in front of
# bench/upstream. curl sends WARM requests over one keep-alive connection,
# the counters are zeroed (callgrind_control -z), curl sends N more on one
# connection, one after another, and the counters are dumped
# (callgrind_control -d): the dump's instruction total divided by N is the
# figure. Everything the process does meanwhile counts (net/http, the
# runtime and its garbage collector, keygate), once per request on average.
#
# Go runs with GODEBUG=asyncpreemptoff=1: callgrind fails on the signals Go
# uses to preempt goroutines. valgrind does not emulate the SHA extensions,
# so Go's SHA-256 takes its AVX2 path here and HMAC costs about four times
# what it costs on a CPU with SHA-NI (see docs/benchmarks.md).
#
# Environment (defaults in brackets):
#   TARGETS   ["bare keygate keygate-authheader keygate-bearer-none
#             keygate-bearer-user keygate-bearer keygate-apikey nginx"]
#               bare                bench/bareproxy: httputil.ReverseProxy, tuned Transport
#               keygate             keygate, one auth: none route
#               keygate-authheader  keygate, auth: none, and the client sends the same
#                                   Authorization header as keygate-bearer (read, then
#                                   dropped): what net/http's reading of the header costs
#               keygate-bearer-none auth: required, a valid Bearer key token, no identity
#                                   header upstream (auth.upstream_identity: [])
#               keygate-bearer-user the same with one identity header (X-Keygate-User)
#               keygate-bearer      the same with keygate's default, all five
#               keygate-apikey      auth: required, a valid ApiKey key:token pair, five
#               nginx               Debian's nginx, one process, keepalive pool, static
#                                   map check of the Bearer header (as in bench.sh);
#                                   skipped when nginx is not installed
#   N         requests counted per run [2000]
#   WARM      requests before the counters are zeroed [500]
#   REPEAT    runs per target [2]
#   GOGC      the Go targets' GOGC [off]: with the collector off, the count
#             does not depend on how many collections happen to fall in the
#             counted window, and two versions compare to within about 0.1 %;
#             allocations still count (the allocator's own work), the
#             collector's marking and sweeping do not. GOGC=400 (keygate's
#             default) counts them too, at about +-1 % between runs.
#   CLIENT_HEADERS  1: every request carries four more headers besides
#             curl's User-Agent and Accept (Accept-Encoding, Accept-Language,
#             Cache-Control, X-Client-Version), as API clients often send [0]
#   KEYGATE_BIN  count this keygate binary instead of building ./cmd/keygate
#             (to compare two versions with the same N)
#   KEEP_TMP  1 keeps the temporary directory [0]
#
# It installs valgrind and curl with apt-get when they are missing (as root).
# A run takes about 20 s per target and repeat.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGETS=${TARGETS:-bare keygate keygate-authheader keygate-bearer-none keygate-bearer-user keygate-bearer keygate-apikey nginx}
N=${N:-2000}
WARM=${WARM:-500}
REPEAT=${REPEAT:-2}
GOGC=${GOGC:-off}
CLIENT_HEADERS=${CLIENT_HEADERS:-0}
KEEP_TMP=${KEEP_TMP:-0}
HOST=127.0.0.1
UPSTREAM_PORT=9301
PORT=9302
ADMIN_PORT=9392

log() { echo "instructions.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

for t in $TARGETS; do
	case $t in
	bare | keygate | keygate-authheader | keygate-bearer-none | keygate-bearer-user | keygate-bearer | keygate-apikey | nginx) ;;
	*) die "unknown target '$t'" ;;
	esac
done
[[ $N =~ ^[1-9][0-9]*$ && $WARM =~ ^[0-9]+$ && $REPEAT =~ ^[1-9][0-9]*$ ]] || die "N, WARM and REPEAT must be whole numbers (N, REPEAT at least 1)"

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
	[[ $(id -u) == 0 ]] || die "missing ${need[*]}: apt-get install ${need[*]}"
	log "installing ${need[*]}"
	apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
for p in $UPSTREAM_PORT $PORT $ADMIN_PORT; do
	! (exec 3<>/dev/tcp/$HOST/$p) 2>/dev/null || die "port $p is taken"
done

WORK=$(mktemp -d /tmp/keygate-instr.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	((KEEP_TMP)) || rm -rf "$WORK"
}
trap cleanup EXIT

log "building into $WORK"
(cd "$ROOT" && go build -o "$WORK/upstream" ./bench/upstream && go build -o "$WORK/bareproxy" ./bench/bareproxy)
if [[ -n ${KEYGATE_BIN:-} ]]; then
	cp "$KEYGATE_BIN" "$WORK/keygate"
else
	(cd "$ROOT" && go build -o "$WORK/keygate" ./cmd/keygate)
fi

"$WORK/upstream" -addr $HOST:$UPSTREAM_PORT 2>"$WORK/upstream.log" &
pids+=($!)

# One store and digest key for every keygate target: they run one at a
# time, so they can share the embedded store file.
secret=$(head -c 48 /dev/urandom | base64 -w0)
write_config() { # write_config FILE AUTH [UPSTREAM_IDENTITY]
	{
		cat <<EOF
listen: $HOST:$PORT
admin_listen: $HOST:$ADMIN_PORT
log: {level: warn, access_log: false}
store: {driver: embedded, embedded: {path: $WORK/keygate.db}}
auth:
  digest_keys: [{id: b1, secret: "$secret"}]
EOF
		[[ -z ${3:-} ]] || echo "  upstream_identity: $3"
		echo "routes:"
		if [[ $2 == none ]]; then
			echo "  - {name: bench, path_prefix: /, upstream: \"http://$HOST:$UPSTREAM_PORT\", auth: none}"
		else
			echo "  - {name: bench, path_prefix: /, upstream: \"http://$HOST:$UPSTREAM_PORT\", auth: required, api_set: bench}"
		fi
	} >"$1"
}
write_config "$WORK/none.yaml" none
write_config "$WORK/five.yaml" required
write_config "$WORK/user.yaml" required "[user]"
write_config "$WORK/zero.yaml" required "[]"
"$WORK/keygate" users add bench --api-sets bench --scopes read,write -config "$WORK/five.yaml" >/dev/null 2>&1
BEARER="Bearer $("$WORK/keygate" keys create bench --handle bench -config "$WORK/five.yaml" 2>/dev/null)"
APIKEY="$("$WORK/keygate" apikey token bench -config "$WORK/five.yaml" 2>/dev/null)"
[[ $BEARER =~ ^Bearer\ kg && $APIKEY =~ ^ApiKey\ kg.+:kg ]] || die "could not create the credentials"

if [[ " $TARGETS " == *" nginx "* ]] && ! command -v nginx >/dev/null; then
	log "nginx is not installed: leaving it out (apt-get install nginx)"
	TARGETS=${TARGETS//nginx/}
fi
# The nginx target of bench.sh.
# shellcheck source=scripts/nginx-conf.sh
source "$ROOT/scripts/nginx-conf.sh"
write_nginx_config "$WORK/nginx" "$HOST:$PORT" "$HOST:$UPSTREAM_PORT" "$BEARER"

# count TARGET RUN: prints the instructions per request of one run.
count() {
	local t=$1 run=$2 auth="" out=$WORK/callgrind.$1.$2
	local -a cmd
	case $t in
	bare) cmd=("$WORK/bareproxy" -addr $HOST:$PORT -upstream http://$HOST:$UPSTREAM_PORT) ;;
	keygate) cmd=("$WORK/keygate" serve -config "$WORK/none.yaml") ;;
	keygate-authheader) cmd=("$WORK/keygate" serve -config "$WORK/none.yaml") auth=$BEARER ;;
	keygate-bearer-none) cmd=("$WORK/keygate" serve -config "$WORK/zero.yaml") auth=$BEARER ;;
	keygate-bearer-user) cmd=("$WORK/keygate" serve -config "$WORK/user.yaml") auth=$BEARER ;;
	keygate-bearer) cmd=("$WORK/keygate" serve -config "$WORK/five.yaml") auth=$BEARER ;;
	keygate-apikey) cmd=("$WORK/keygate" serve -config "$WORK/five.yaml") auth=$APIKEY ;;
	nginx) cmd=(nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf") auth=$BEARER ;;
	esac
	local -a h=()
	[[ -z $auth ]] || h+=(-H "Authorization: $auth")
	((!CLIENT_HEADERS)) || h+=(-H "Accept-Encoding: gzip" -H "Accept-Language: en-GB" -H "Cache-Control: no-cache" -H "X-Client-Version: 1.0")
	GOGC=$GOGC GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" 2>"$out.log" &
	local vg=$!
	pids+=($vg)
	local i
	for i in $(seq 120); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "${h[@]}" http://$HOST:$PORT/bench/item || true) == 200 ]] && break
		kill -0 $vg 2>/dev/null || die "$t died under valgrind: $(tail -3 "$out.log")"
		sleep 0.5
	done
	((i < 120)) || die "$t did not answer 200 under valgrind"
	((WARM == 0)) || curl -s -o /dev/null "${h[@]}" "http://$HOST:$PORT/bench/item?[1-$WARM]"
	callgrind_control -z $vg >/dev/null 2>&1
	local codes
	codes=$(curl -s -o /dev/null -w '%{http_code}\n' "${h[@]}" "http://$HOST:$PORT/bench/item?[1-$N]" | sort | uniq -c | tr -s ' ')
	callgrind_control -d $vg >/dev/null 2>&1
	kill -9 $vg 2>/dev/null || true
	wait $vg 2>/dev/null || true
	[[ $codes == " $N 200" ]] || die "$t: not every counted request got 200: $codes"
	local ir
	ir=$(cat "$out".* 2>/dev/null | awk '/^(summary|totals):/ {print $2; exit}')
	[[ -n $ir ]] || die "$t: callgrind wrote no dump ($out.*)"
	echo $((ir / N))
}

declare -A IR SPREAD
targets=($TARGETS)
for t in "${targets[@]}"; do
	runs=()
	for ((r = 1; r <= REPEAT; r++)); do
		runs+=("$(count "$t" "$r")")
		log "$t run $r: ${runs[-1]} instructions/request"
	done
	IR[$t]=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}')
	SPREAD[$t]=$(printf '%s\n' "${runs[@]}" | sort -n | awk -v m="${IR[$t]}" 'NR==1 {lo=$1} {hi=$1} END {printf "%.1f", (hi-lo)*100/m}')
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }
base=${targets[0]}
[[ -z ${IR[bare]:-} ]] || base=bare
version=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z ${KEYGATE_BIN:-} ]] || version="keygate binary $KEYGATE_BIN"
echo "## Instructions per request ($(date -u '+%Y-%m-%d %H:%M UTC'), $version)"
echo
echo "valgrind $(valgrind --version | sed 's/valgrind-//'), $(go version | awk '{print $3}'), GOGC=$GOGC, CLIENT_HEADERS=$CLIENT_HEADERS, N=$N requests after WARM=$WARM, median of REPEAT=$REPEAT runs"
echo
both=0
[[ -z ${IR[keygate]:-} || $base == keygate ]] || both=1
echo "| target | instructions/request | spread % | vs $base |$( ((both)) && echo ' vs keygate |')"
echo "|---|---:|---:|---:|$( ((both)) && echo '---:|')"
for t in "${targets[@]}"; do
	printf '| %s | %d | %s | %s |' "$t" "${IR[$t]}" "${SPREAD[$t]}" "$(ratio "${IR[$t]}" "${IR[$base]}")"
	((!both)) || printf ' %s |' "$(ratio "${IR[$t]}" "${IR[keygate]}")"
	echo
done
if [[ -n ${IR[keygate]:-} ]]; then
	echo
	echo "| step | added instructions/request |"
	echo "|---|---:|"
	prev=keygate
	for t in keygate-authheader keygate-bearer-none keygate-bearer-user keygate-bearer; do
		[[ -n ${IR[$t]:-} ]] || continue
		echo "| $prev → $t | $((IR[$t] - IR[$prev])) |"
		prev=$t
	done
fi
