#!/usr/bin/env bash
# bench.sh: load keygate and a bare httputil.ReverseProxy with wrk, side by
# side, and print the figures as markdown for docs/benchmarks.md.
#
# Builds cmd/keygate, bench/upstream and bench/bareproxy (and bench/tokens,
# bench/loadgen when needed) into a temporary directory, starts the upstream
# and one server per target on loopback, warms each target up, then runs
# ROUNDS rounds that load every target in turn with wrk (the order rotates
# each round, so no target always goes first) and reports, per round and as
# medians: requests/s, p50 and p99 latency, each target's ratio to the
# baseline, CPU per request and peak RSS of each server process.
#
# Then, when TARGETS has bare and an authenticated target, the rate phase:
# bench/loadgen (open loop, latency from each request's scheduled start)
# loads bare and the authenticated targets at a fixed rate, by default half
# of bare's median maximum, in RATE_ROUNDS alternating rounds, and reports
# p50, p99, p99.9 and the p99 keygate adds to bare's.
#
# The markdown report goes to stdout (and RESULTS_DIR/summary.md); progress
# goes to stderr. Every process it starts is stopped on exit.
#
# Environment (defaults in brackets):
#   TARGETS     targets to load, in order ["bare keygate"]:
#                 bare             bench/bareproxy, a ReverseProxy tuned like keygate's
#                 default          bench/bareproxy -default: NewSingleHostReverseProxy, DefaultTransport
#                 keygate          keygate serve, one auth: none route, access log off
#                 keygate-log      the same with access_log: true
#                 keygate-bearer   auth: required; every request has the same valid
#                                  Bearer key token (a cache hit after the first)
#                 keygate-apikey   auth: required; every request has the same valid
#                                  ApiKey key:token pair (a cache hit after the first)
#                 keygate-unknown  auth: required, failure limit off; every request has
#                                  a different well-formed but unknown Bearer token
#                                  (a store look-up, answered 401)
#                 keygate-bearer-user  keygate-bearer with auth.upstream_identity: [user]
#                                  (one identity header upstream instead of five)
#                 keygate-unix     keygate, auth: none, with the upstream on a Unix
#                                  socket (a second upstream process) instead of TCP
#                 nginx            nginx (Debian package), one worker, proxy_pass with
#                                  keepalive to the same upstream, a static map check
#                                  of the Authorization header keygate-bearer sends
#                 keygate-rl-fast  like keygate-bearer, on a private redis-server (the
#                                  store), and every request checked against a
#                                  per-credential rate limit in fast mode that is
#                                  never reached (1,000,000/s)
#                 keygate-rl-exact the same in exact mode (a Redis round trip each)
#               The baseline for ratios is bare if listed, else the first target.
#   ACCESS_LOG  1 adds keygate-log after keygate [0]
#   ROUNDS      measured rounds [5]
#   DURATION    wrk -d of one measured run [10s]
#   WARMUP      wrk -d of the warm-up run per target, before round 1 [2s]
#   CONNS       wrk -c [64]
#   THREADS     wrk -t [2]
#   BENCH_PATH  request path [/bench/item]
#   COOLDOWN    seconds of pause between runs [1]
#   UNKNOWN_TOKENS  distinct tokens keygate-unknown cycles through [400000]
#   RATE_PHASE  1 runs the rate phase, 0 skips it; auto runs it when TARGETS
#               has bare and keygate-bearer or keygate-apikey [auto]
#   RATE_FRACTIONS  the rate phase's rates, as fractions of bare's median
#               req/s; one rate phase each ["0.5"]
#   RATE        the rate phase's rates in requests/s instead (e.g. "8000 4000")
#   RATE_TARGETS    targets of the rate phase, those of them in TARGETS
#               ["bare keygate-bearer keygate-apikey"]
#   RATE_ROUNDS rounds of the rate phase [5]
#   RATE_DURATION   measured length of one rate run [DURATION]
#   RATE_WARMUP loadgen's unmeasured lead-in per run, same rate [1s]
#   RATE_CONNS  loadgen's connections (most requests in flight) [CONNS]
#   OTHER_CPU_MAX   on a shared machine: run a measured run again when
#               processes this script did not start used more than this
#               percentage of all cores meanwhile (0: never; every run's
#               share is reported either way) [0]
#   RERUNS      at most this many reruns of one run [3]
#   RESULTS_DIR raw wrk and loadgen output, server log tails, metrics and
#               summary.md [bench/results/YYYYmmdd-HHMMSS, git-ignored]
#   KEYGATE_RUNTIME  a YAML flow map for every keygate target's runtime
#               section, e.g. "{gomaxprocs: 1}" or "{gc_percent: 100}" [keygate's defaults]
#   KEYGATE_UPSTREAM  a YAML flow map for every keygate target's upstream
#               section, e.g. "{max_idle_conns_per_host: 1024}" [keygate's defaults]
#   KEYGATE_BIN use this keygate binary instead of building ./cmd/keygate
#   KEEP_TMP    1 keeps the temporary directory (binaries, configs, logs) [0]
#
# Examples:
#   scripts/bench.sh
#   ROUNDS=3 DURATION=5s TARGETS="bare default" scripts/bench.sh
#   ACCESS_LOG=1 scripts/bench.sh > /tmp/bench.md
#   TARGETS="bare keygate keygate-bearer keygate-apikey keygate-unknown" scripts/bench.sh
#   TARGETS="bare default keygate keygate-bearer nginx" scripts/bench.sh   # the speed comparison
#   RATE=5000 RATE_ROUNDS=3 TARGETS="bare keygate-bearer" scripts/bench.sh
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
TARGETS=${TARGETS:-bare keygate}
ACCESS_LOG=${ACCESS_LOG:-0}
BENCH_PATH=${BENCH_PATH:-/bench/item}
COOLDOWN=${COOLDOWN:-1}
UNKNOWN_TOKENS=${UNKNOWN_TOKENS:-400000}
RATE_PHASE=${RATE_PHASE:-auto}
RATE=${RATE:-}
RATE_FRACTIONS=${RATE_FRACTIONS:-0.5}
RATE_TARGETS_SET=${RATE_TARGETS+1}
RATE_TARGETS=${RATE_TARGETS:-bare keygate-bearer keygate-apikey}
RATE_ROUNDS=${RATE_ROUNDS:-5}
RATE_DURATION=${RATE_DURATION:-$DURATION}
RATE_WARMUP=${RATE_WARMUP:-1s}
RATE_CONNS=${RATE_CONNS:-$CONNS}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}
OTHER_CPU_MAX=${OTHER_CPU_MAX:-0}
RERUNS=${RERUNS:-3}
KEYGATE_BIN=${KEYGATE_BIN:-}
KEYGATE_RUNTIME=${KEYGATE_RUNTIME:-}
KEYGATE_UPSTREAM=${KEYGATE_UPSTREAM:-}
KEEP_TMP=${KEEP_TMP:-0}

# Only loopback: every address below is on this host.
HOST=127.0.0.1
UPSTREAM_PORT=9001
declare -A PORT=([bare]=9002 [keygate]=9003 [default]=9004 [keygate-log]=9005
	[keygate-bearer]=9006 [keygate-apikey]=9007 [keygate-unknown]=9008 [nginx]=9009
	[keygate-unix]=9010 [keygate-bearer-user]=9011 [keygate-rl-fast]=9012 [keygate-rl-exact]=9013)
declare -A ADMIN_PORT=([keygate]=9093 [keygate-log]=9095
	[keygate-bearer]=9096 [keygate-apikey]=9097 [keygate-unknown]=9098 [keygate-unix]=9100
	[keygate-bearer-user]=9101 [keygate-rl-fast]=9102 [keygate-rl-exact]=9103)
# The rate-limit targets' store: a private redis-server on this port.
REDIS_PORT=9014
# The rate-limit targets' mode; their limit is never reached.
declare -A LIMIT_MODE=([keygate-rl-fast]=fast [keygate-rl-exact]=exact)
# The route's auth mode per keygate target; the authenticated ones share one
# user, API set and digest-key setup (see write_config).
declare -A ROUTE_AUTH=([keygate]=none [keygate-log]=none [keygate-unix]=none
	[keygate-bearer]=required [keygate-apikey]=required [keygate-unknown]=required
	[keygate-bearer-user]=required [keygate-rl-fast]=required [keygate-rl-exact]=required)
declare -A AUTH=() # target -> Authorization header value sent on every request

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

# seconds DUR prints the whole seconds in a wrk duration (10, 10s, 2m, 1h).
seconds() {
	[[ $1 =~ ^([0-9]+)([smh]?)$ ]] || die "bad duration '$1' (want e.g. 10s, 2m)"
	local n=${BASH_REMATCH[1]}
	case ${BASH_REMATCH[2]} in
	m) n=$((n * 60)) ;;
	h) n=$((n * 3600)) ;;
	esac
	echo "$n"
}

# listed NAME succeeds when NAME is one of the targets.
listed() { [[ -n ${seen[$1]:-} ]]; }

# --- inputs ------------------------------------------------------------------

for v in ROUNDS CONNS THREADS COOLDOWN UNKNOWN_TOKENS RATE_ROUNDS RATE_CONNS OTHER_CPU_MAX RERUNS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((ROUNDS >= 1)) || die "ROUNDS must be at least 1"
((THREADS >= 1 && CONNS >= THREADS)) || die "need THREADS >= 1 and CONNS >= THREADS"
DURATION_S=$(seconds "$DURATION")
WARMUP_S=$(seconds "$WARMUP")
((DURATION_S >= 1)) || die "DURATION must be at least 1s"
[[ $BENCH_PATH == /* && $BENCH_PATH != *[[:space:]]* ]] || die "BENCH_PATH must start with / and have no spaces"

read -r -a targets <<<"$TARGETS"
if [[ $ACCESS_LOG == 1 && " ${targets[*]} " == *" keygate "* && " ${targets[*]} " != *" keygate-log "* ]]; then
	targets+=(keygate-log)
fi
((${#targets[@]} >= 1)) || die "TARGETS is empty"
declare -A seen=()
for t in "${targets[@]}"; do
	[[ -n ${PORT[$t]:-} ]] || die "unknown target '$t' (want bare, default, keygate, keygate-log, keygate-bearer, keygate-apikey, keygate-unknown, keygate-bearer-user, keygate-unix, nginx, keygate-rl-fast, keygate-rl-exact)"
	[[ -z ${seen[$t]:-} ]] || die "target '$t' listed twice"
	seen[$t]=1
done
baseline=${targets[0]}
! listed bare || baseline=bare
need_keygate=0
for t in "${targets[@]}"; do
	[[ -z ${ROUTE_AUTH[$t]:-} ]] || need_keygate=1
done
if listed keygate-unknown; then
	((UNKNOWN_TOKENS >= 1000)) || die "UNKNOWN_TOKENS must be at least 1000"
	((UNKNOWN_TOKENS % THREADS == 0)) || die "UNKNOWN_TOKENS must be a multiple of THREADS"
fi

# The rate phase: bare and targets that answer 200 (by default the authenticated ones).
rate_targets=()
case $RATE_PHASE in
0) ;;
1 | auto)
	read -r -a rate_want <<<"$RATE_TARGETS"
	for t in "${rate_want[@]}"; do
		case $t in
		bare | keygate | keygate-log | keygate-bearer | keygate-bearer-user | keygate-apikey | keygate-unix | keygate-rl-fast | keygate-rl-exact | default | nginx) ;;
		*) die "RATE_TARGETS: '$t' cannot be in the rate phase (want bare, default, keygate, keygate-log, keygate-bearer, keygate-bearer-user, keygate-apikey, keygate-unix, keygate-rl-fast, keygate-rl-exact, nginx)" ;;
		esac
		if listed "$t"; then
			rate_targets+=("$t")
		elif [[ -n $RATE_TARGETS_SET ]]; then
			die "RATE_TARGETS: '$t' is not in TARGETS"
		fi
	done
	has_auth=0
	for t in "${rate_targets[@]}"; do
		[[ $t != keygate-bearer && $t != keygate-bearer-user && $t != keygate-apikey && $t != keygate-rl-* ]] || has_auth=1
	done
	if [[ " ${rate_targets[*]} " != *" bare "* || ${#rate_targets[@]} -lt 2 ]] ||
		{ [[ -z $RATE_TARGETS_SET ]] && ((!has_auth)); }; then
		[[ $RATE_PHASE == auto ]] || die "RATE_PHASE=1 needs bare and another rate target (keygate-bearer, keygate-apikey) in TARGETS"
		rate_targets=()
	fi
	;;
*) die "RATE_PHASE must be 0, 1 or auto, got '$RATE_PHASE'" ;;
esac
if ((${#rate_targets[@]})); then
	((RATE_ROUNDS >= 1)) || die "RATE_ROUNDS must be at least 1"
	((RATE_CONNS >= 1 && RATE_CONNS <= 4096)) || die "RATE_CONNS must be between 1 and 4096"
	RATE_DURATION_S=$(seconds "$RATE_DURATION")
	RATE_WARMUP_S=$(seconds "$RATE_WARMUP")
	((RATE_DURATION_S >= 1)) || die "RATE_DURATION must be at least 1s"
	[[ -z $RATE || $RATE =~ ^[1-9][0-9]*( [1-9][0-9]*)*$ ]] || die "RATE must be whole numbers of requests/s, got '$RATE'"
	[[ $RATE_FRACTIONS =~ ^(0?\.[0-9]+|1(\.0*)?)( (0?\.[0-9]+|1(\.0*)?))*$ ]] || die "RATE_FRACTIONS must be fractions such as '0.5 0.25', got '$RATE_FRACTIONS'"
fi

# --- processes and cleanup ---------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keygate-bench.XXXXXX")
UPSTREAM_SOCK=$WORK/upstream.sock
mkdir -p "$RESULTS_DIR"
declare -A PID=() # server name -> pid
LOAD_PID=         # the running wrk or loadgen

cleanup() {
	local rc=$? name pid i
	trap - EXIT INT TERM HUP
	if [[ -n $LOAD_PID ]]; then
		kill -TERM "$LOAD_PID" 2>/dev/null || true
	fi
	for name in "${!PID[@]}"; do
		kill -TERM "${PID[$name]}" 2>/dev/null || true
	done
	for name in "${!PID[@]}"; do
		pid=${PID[$name]}
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		if [[ -f $WORK/$name.log ]]; then
			tail -n 50 "$WORK/$name.log" >"$RESULTS_DIR/$name.log" 2>/dev/null || true
		fi
	done
	wait 2>/dev/null || true
	if [[ $KEEP_TMP == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# port_open PORT succeeds when something accepts TCP connections on HOST:PORT.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# start NAME PORT CMD... starts a server in the background, logging to
# WORK/NAME.log, after checking that nothing else holds PORT.
start() {
	local name=$1 port=$2
	shift 2
	! port_open "$port" || die "port $HOST:$port is already in use; stop whatever holds it"
	"$@" >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
}

# wait_port NAME PORT waits up to 15s for NAME's server to accept on PORT.
wait_port() {
	local name=$1 port=$2 i
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "${PID[$name]}" 2>/dev/null; then
			tail -n 20 "$WORK/$name.log" >&2 || true
			die "$name exited before listening on $HOST:$port"
		fi
		port_open "$port" && return 0
		sleep 0.1
	done
	tail -n 20 "$WORK/$name.log" >&2 || true
	die "$name is not listening on $HOST:$port after 15s"
}

# probe NAME PORT WANT [AUTHORIZATION] checks that GET BENCH_PATH, with that
# Authorization header if given, answers WANT, so that the load goes through
# the path meant (the proxy, or the refusal of an unknown token) and not a
# 404 or 401 short cut.
probe() {
	local name=$1 port=$2 want=$3 authz=${4:-} hdr='' status
	[[ -z $authz ]] || hdr="Authorization: $authz"$'\r\n'
	status=$(
		exec 3<>"/dev/tcp/$HOST/$port"
		printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n%s\r\n' "$BENCH_PATH" "$HOST" "$port" "$hdr" >&3
		IFS=' ' read -r -t 5 _ code _ <&3 && printf '%s' "$code"
	) || true
	[[ $status == "$want" ]] || die "$name: GET $BENCH_PATH${authz:+ with its Authorization header} answered '${status:-nothing}', want $want (see $WORK/$name.log)"
}

# upstream_conns TARGET prints how many connections TARGET's upstream has
# accepted so far (bench/upstream's /_bench/conns; each query opens one
# itself), or nothing when it cannot be asked.
upstream_conns() {
	if [[ $1 == keygate-unix ]]; then
		command -v curl >/dev/null || return 0
		curl -s --max-time 5 --unix-socket "$UPSTREAM_SOCK" http://upstream/_bench/conns 2>/dev/null || true
		return 0
	fi
	(
		exec 3<>"/dev/tcp/$HOST/$UPSTREAM_PORT"
		printf 'GET /_bench/conns HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
		timeout 5 cat <&3
	) 2>/dev/null | tail -n 1 | tr -dc '0-9'
}

# scrape NAME saves NAME's admin /metrics to RESULTS_DIR/metrics-NAME.txt.
scrape() {
	local name=$1
	(
		exec 3<>"/dev/tcp/$HOST/${ADMIN_PORT[$name]}"
		printf 'GET /metrics HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$HOST" "${ADMIN_PORT[$name]}" >&3
		timeout 5 cat <&3
	) >"$RESULTS_DIR/metrics-$name.txt" 2>/dev/null || true
}

# --- build -------------------------------------------------------------------

command -v go >/dev/null || die "go is not on PATH"
if ! command -v wrk >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing wrk"
		apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
	fi
	command -v wrk >/dev/null || die "wrk is not installed (apt-get install -y wrk)"
fi

if listed nginx && ! command -v nginx >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing nginx"
		DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2; }
	fi
	command -v nginx >/dev/null || die "nginx is not installed (apt-get install -y nginx), or leave it out of TARGETS"
fi

log "building into $WORK"
(cd "$ROOT" && go build -o "$WORK/upstream" ./bench/upstream && go build -o "$WORK/bareproxy" ./bench/bareproxy)
if ((${#rate_targets[@]})); then
	(cd "$ROOT" && go build -o "$WORK/loadgen" ./bench/loadgen)
fi
if listed keygate-unknown; then
	(cd "$ROOT" && go build -o "$WORK/tokens" ./bench/tokens)
	"$WORK/tokens" -n "$UNKNOWN_TOKENS" >"$WORK/tokens.txt"
fi
if ((need_keygate)); then
	if [[ -n $KEYGATE_BIN ]]; then
		[[ -x $KEYGATE_BIN ]] || die "KEYGATE_BIN=$KEYGATE_BIN is not executable"
		cp "$KEYGATE_BIN" "$WORK/keygate"
	else
		(cd "$ROOT" && go build -o "$WORK/keygate" ./cmd/keygate) ||
			die "building ./cmd/keygate failed; TARGETS=\"bare default\" runs without it"
	fi
fi

# write_config NAME ACCESS_LOG writes WORK/NAME.yaml: one route for every
# path to the upstream, with NAME's auth mode. The authenticated ones have
# their own digest key (random, per run) and require API set "bench";
# keygate-unknown has the per-address failure limit off.
write_config() {
	local name=$1 access_log=$2 auth=${ROUTE_AUTH[$1]} secret upstream=http://$HOST:$UPSTREAM_PORT
	[[ $name != keygate-unix ]] || upstream=unix://$UPSTREAM_SOCK
	{
		cat <<EOF
listen: $HOST:${PORT[$name]}
admin_listen: $HOST:${ADMIN_PORT[$name]}
log: {level: warn, access_log: $access_log}
EOF
		if [[ -n ${LIMIT_MODE[$name]:-} ]]; then
			echo "store: {driver: redis, redis: {addrs: [\"$HOST:$REDIS_PORT\"], key_prefix: \"$name:\"}}"
		else
			echo "store: {driver: embedded, embedded: {path: $WORK/$name.db}}"
		fi
		[[ -z $KEYGATE_RUNTIME ]] || echo "runtime: $KEYGATE_RUNTIME"
		[[ -z $KEYGATE_UPSTREAM ]] || echo "upstream: $KEYGATE_UPSTREAM"
		if [[ $auth == required ]]; then
			secret=$(head -c 48 /dev/urandom | base64 -w0)
			cat <<EOF
auth:
  digest_keys: [{id: b1, secret: "$secret"}]
EOF
			# The flood comes from one address, 127.0.0.1: with the
			# per-address failure limit on, all but its first 20
			# requests would get 429 without a look-up. Off, every
			# request is a look-up: the worst case, a flood from
			# many addresses.
			[[ $name != keygate-unknown ]] || echo "  failure_limit: {rate: -1}"
			[[ $name != keygate-bearer-user ]] || echo "  upstream_identity: [user]"
		fi
		cat <<EOF
routes:
  - name: bench
    path_prefix: /
    upstream: $upstream
    auth: $auth
EOF
		[[ $auth != required ]] || echo "    api_set: bench"
		[[ -z ${LIMIT_MODE[$name]:-} ]] ||
			echo "    rate_limit: {rate: 1000000, per: 1s, burst: 1000000, key: credential, mode: ${LIMIT_MODE[$name]}}"
	} >"$WORK/$name.yaml"
}

# credentials NAME creates user bench and NAME's credential in NAME's
# embedded store with the keygate CLI, before the server opens the store, and
# sets AUTH[NAME] to the Authorization header value. The CLI's messages go to
# WORK/NAME-cli.log; the secrets stay in this shell and WORK.
credentials() {
	local name=$1 cfg=$WORK/$1.yaml clilog=$WORK/$1-cli.log value
	"$WORK/keygate" users add bench --api-sets bench --scopes read,write -config "$cfg" >>"$clilog" 2>&1 ||
		die "$name: keygate users add failed (see $clilog)"
	case $name in
	keygate-bearer | keygate-bearer-user | keygate-rl-*)
		value=$("$WORK/keygate" keys create bench --handle bench -config "$cfg" 2>>"$clilog") ||
			die "$name: keygate keys create failed (see $clilog)"
		[[ $value =~ ^kgl_[A-Za-z0-9]+$ ]] || die "$name: keygate keys create printed no key token"
		AUTH[$name]="Bearer $value"
		;;
	keygate-apikey)
		value=$("$WORK/keygate" apikey token bench -config "$cfg" 2>>"$clilog") ||
			die "$name: keygate apikey token failed (see $clilog)"
		[[ $value =~ ^ApiKey\ kgk_[A-Za-z0-9]+:kgt_[A-Za-z0-9]+$ ]] || die "$name: keygate apikey token printed no ApiKey pair"
		AUTH[$name]=$value
		;;
	esac
}

# write_nginx_config (scripts/nginx-conf.sh) writes the nginx target's
# config; instructions.sh counts the same one.
# shellcheck source=scripts/nginx-conf.sh
source "$ROOT/scripts/nginx-conf.sh"

# --- start -------------------------------------------------------------------

start upstream "$UPSTREAM_PORT" "$WORK/upstream" -addr "$HOST:$UPSTREAM_PORT"
wait_port upstream "$UPSTREAM_PORT"
if listed keygate-rl-fast || listed keygate-rl-exact; then
	command -v redis-server >/dev/null || die "the keygate-rl-* targets need redis-server (apt-get install -y redis-server)"
	start redis "$REDIS_PORT" redis-server --bind "$HOST" --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK"
	wait_port redis "$REDIS_PORT"
fi
if listed keygate-unix; then
	# The same upstream program on a Unix socket, for keygate-unix: the
	# sidecar case, where the application is in the same pod.
	"$WORK/upstream" -unix "$UPSTREAM_SOCK" >"$WORK/upstream-unix.log" 2>&1 &
	PID[upstream-unix]=$!
	for ((i = 0; i < 150; i++)); do
		[[ -S $UPSTREAM_SOCK ]] && break
		sleep 0.1
	done
	[[ -S $UPSTREAM_SOCK ]] || die "upstream-unix is not listening on $UPSTREAM_SOCK after 15s"
fi
for t in "${targets[@]}"; do
	case $t in
	bare) start "$t" "${PORT[$t]}" "$WORK/bareproxy" -addr "$HOST:${PORT[$t]}" -upstream "http://$HOST:$UPSTREAM_PORT" ;;
	default) start "$t" "${PORT[$t]}" "$WORK/bareproxy" -default -addr "$HOST:${PORT[$t]}" -upstream "http://$HOST:$UPSTREAM_PORT" ;;
	nginx) ;; # after the keygate targets: it checks keygate-bearer's token
	keygate*)
		al=false
		[[ $t == keygate-log ]] && al=true
		write_config "$t" "$al"
		[[ ${ROUTE_AUTH[$t]} != required ]] || credentials "$t"
		! port_open "${ADMIN_PORT[$t]}" || die "port $HOST:${ADMIN_PORT[$t]} is already in use"
		start "$t" "${PORT[$t]}" "$WORK/keygate" serve -config "$WORK/$t.yaml"
		;;
	esac
done
if listed nginx; then
	if [[ -n ${AUTH[keygate-bearer]:-} ]]; then
		AUTH[nginx]=${AUTH[keygate-bearer]}
	else
		AUTH[nginx]="Bearer kgl_$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')"
	fi
	write_nginx_config "$WORK/nginx" "$HOST:${PORT[nginx]}" "$HOST:$UPSTREAM_PORT" "${AUTH[nginx]}"
	start nginx "${PORT[nginx]}" nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf"
fi
for t in "${targets[@]}"; do
	wait_port "$t" "${PORT[$t]}"
	[[ -z ${ADMIN_PORT[$t]:-} ]] || wait_port "$t" "${ADMIN_PORT[$t]}"
	case $t in
	keygate-unknown)
		read -r tok <"$WORK/tokens.txt"
		probe "$t" "${PORT[$t]}" 401 "Bearer $tok"
		;;
	*) probe "$t" "${PORT[$t]}" 200 "${AUTH[$t]:-}" ;;
	esac
done
log "servers up: upstream=${PID[upstream]}$(for t in "${targets[@]}"; do printf ' %s=%s' "$t" "${PID[$t]}"; done)"

# --- load --------------------------------------------------------------------

# run_wrk TARGET DURATION OUT loads TARGET with wrk for DURATION into OUT.
run_wrk() {
	local t=$1 dur=$2 out=$3 limit args=()
	limit=$(($(seconds "$dur") + 30))
	[[ -z ${AUTH[$t]:-} ]] || args+=(-H "Authorization: ${AUTH[$t]}")
	[[ $t != keygate-unknown ]] || args+=(-s "$ROOT/bench/tokens/flood.lua")
	args+=("http://$HOST:${PORT[$t]}$BENCH_PATH")
	[[ $t != keygate-unknown ]] || args+=(-- "$WORK/tokens.txt" "$THREADS")
	timeout -k 5 "$limit" wrk -t"$THREADS" -c"$CONNS" -d"$dur" --timeout 5s --latency "${args[@]}" >"$out" 2>&1 &
	LOAD_PID=$!
	if ! wait "$LOAD_PID"; then
		LOAD_PID=
		cat "$out" >&2
		die "wrk against $t failed"
	fi
	LOAD_PID=
	kill -0 "${PID[$t]}" 2>/dev/null || die "$t died during the run (see $WORK/$t.log)"
}

# parse OUT prints "rps p50_ms p99_ms requests socket_errors non2xx" from wrk
# output; non2xx counts wrk's "Non-2xx or 3xx responses".
parse() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return v * 0.001
		if (v ~ /ms$/) return v + 0
		if (v ~ /m$/) return v * 60000
		if (v ~ /h$/) return v * 3600000
		if (v ~ /s$/) return v * 1000
		return v + 0
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/ requests in / { reqs = $1 }
	/Socket errors:/ { gsub(/,/, ""); errs += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { non2xx += $NF }
	END {
		if (rps == "" || p99 == "") exit 1
		printf "%.0f %.3f %.3f %d %d %d\n", rps, p50, p99, reqs, errs, non2xx
	}' "$1"
}

# cpu_ticks PID prints the process's user+system CPU time in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# machine_ticks prints the busy (user, nice, system, steal) and total clock
# ticks of all CPUs. irq and softirq time is left out of busy: the kernel
# charges it to no process, and on loopback most of it is this benchmark's.
machine_ticks() { awk '$1 == "cpu" { b = $2 + $3 + $4 + $9; print b, b + $5 + $6 + $7 + $8; exit }' /proc/stat; }

# ours_ticks prints the CPU ticks of every server this script started plus
# the script's own and its finished children's (wrk, loadgen, awk...).
ours_ticks() {
	local files=() p
	for p in "${PID[@]}"; do
		files+=("/proc/$p/stat")
	done
	awk -v self="/proc/$$/stat" '{
		sub(/^.*\) /, ""); s += $12 + $13
		if (FILENAME == self) s += $14 + $15
	} END { print s }' "${files[@]}" "/proc/$$/stat"
}

# median prints the median of its numeric arguments.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B prints A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }

# per_req TICKS REQUESTS prints CPU µs per request.
clk=$(getconf CLK_TCK)
per_req() { awk -v t="$1" -v c="$clk" -v n="$2" 'BEGIN { if (n == 0) print "n/a"; else printf "%.1f\n", t / c * 1e6 / n }'; }

n=${#targets[@]}
total=$((n * (WARMUP_S + ROUNDS * (DURATION_S + COOLDOWN)) + 5))
if ((${#rate_targets[@]})); then
	read -r -a n_rates <<<"${RATE:-$RATE_FRACTIONS}"
	total=$((total + ${#n_rates[@]} * ${#rate_targets[@]} * RATE_ROUNDS * (RATE_WARMUP_S + RATE_DURATION_S + COOLDOWN + 1)))
fi
log "targets: ${targets[*]} (baseline $baseline); $ROUNDS rounds of $DURATION, warm-up $WARMUP; rate phase: ${rate_targets[*]:-off}; about ${total}s"

for t in "${targets[@]}"; do
	log "warm-up $t ($WARMUP)"
	run_wrk "$t" "$WARMUP" "$RESULTS_DIR/warmup-$t.txt"
	sleep "$COOLDOWN"
done

# measure TARGET CMD... runs CMD (a run_wrk or run_loadgen call) and sets
# RUN_CPU to the CPU ticks TARGET's server used meanwhile and RUN_OTHER to the
# share of the machine's CPU (percent of all cores) that processes this
# script did not start used meanwhile: other people's builds and tests, the
# hypervisor's steal. A noisy run shows there.
measure() {
	local target=$1 b0 t0 o0 s0 b1 t1 o1 s1
	shift
	read -r b0 t0 < <(machine_ticks)
	o0=$(ours_ticks)
	s0=$(cpu_ticks "${PID[$target]}")
	"$@"
	s1=$(cpu_ticks "${PID[$target]}")
	o1=$(ours_ticks)
	read -r b1 t1 < <(machine_ticks)
	RUN_CPU=$((s1 - s0))
	RUN_OTHER=$(awk -v b=$((b1 - b0)) -v o=$((o1 - o0)) -v t=$((t1 - t0)) 'BEGIN {
		x = t > 0 ? (b - o) / t * 100 : 0; printf "%.0f\n", x < 0 ? 0 : x }')
}

# disturbed says whether the last measured run should be run again: when
# OTHER_CPU_MAX is set, other processes used more than that share of the
# machine, and this run has reruns left (try is the number of reruns so far).
disturbed() {
	local try=$1
	((OTHER_CPU_MAX > 0 && RUN_OTHER > OTHER_CPU_MAX && try < RERUNS)) || return 1
	log "  disturbed: other processes used ${RUN_OTHER}% of the CPU (OTHER_CPU_MAX=$OTHER_CPU_MAX); running it again"
	reruns_done=$((reruns_done + 1))
	sleep "$COOLDOWN"
}

declare -A CPU=() REQS=() RPS=() P50=() P99=() UPCONNS=()
for t in "${targets[@]}"; do
	CPU[$t]=0
	REQS[$t]=0
done

rows=()             # "round|target|rps|p50|p99|socket errors|non2xx|bad|other%" in the order run
declare -A R_RPS=() # "round/target" -> rps, for per-round ratios
errors_seen=0
reruns_done=0
for ((r = 1; r <= ROUNDS; r++)); do
	off=$(((r - 1) % n))
	order=("${targets[@]:off}" "${targets[@]:0:off}")
	for t in "${order[@]}"; do
		out="$RESULTS_DIR/round$r-$t.txt"
		for ((try = 0; ; try++)); do
			log "round $r/$ROUNDS: $t"
			c0=$(upstream_conns "$t")
			measure "$t" run_wrk "$t" "$DURATION" "$out"
			c1=$(upstream_conns "$t")
			disturbed "$try" || break
		done
		if [[ -n $c0 && -n $c1 && ${UPCONNS[$t]:-0} != n/a ]]; then
			UPCONNS[$t]=$((${UPCONNS[$t]:-0} + c1 - c0 - 1))
		else
			UPCONNS[$t]=n/a
		fi
		read -r rps p50 p99 reqs errs non2xx < <(parse "$out") || die "cannot parse wrk output $out"
		# bad: answers that are not the expected kind. keygate-unknown must
		# answer every request with a refusal (its status is checked in the
		# metrics below); the others must answer 2xx.
		if [[ $t == keygate-unknown ]]; then
			bad=$((reqs - non2xx))
		else
			bad=$non2xx
		fi
		RPS[$t]+=" $rps"
		P50[$t]+=" $p50"
		P99[$t]+=" $p99"
		CPU[$t]=$((CPU[$t] + RUN_CPU))
		REQS[$t]=$((REQS[$t] + reqs))
		R_RPS[$r/$t]=$rps
		((errs + bad == 0)) || errors_seen=1
		rows+=("$r|$t|$rps|$p50|$p99|$errs|$non2xx|$bad|$RUN_OTHER")
		sleep "$COOLDOWN"
	done
done

declare -A CPU_US=() HWM=() M_RPS=() M_P50=() M_P99=()
for t in "${targets[@]}"; do
	CPU_US[$t]=$(per_req "${CPU[$t]}" "${REQS[$t]}")
	# shellcheck disable=SC2086 # the lists are space-separated numbers
	M_RPS[$t]=$(median ${RPS[$t]})
	# shellcheck disable=SC2086
	M_P50[$t]=$(median ${P50[$t]})
	# shellcheck disable=SC2086
	M_P99[$t]=$(median ${P99[$t]})
done
for name in upstream "${targets[@]}"; do
	HWM[$name]=$(awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/${PID[$name]}/status")
done

# --- rate phase --------------------------------------------------------------

# run_loadgen TARGET RATE OUT loads TARGET at RATE requests/s into OUT.
run_loadgen() {
	local t=$1 rate=$2 out=$3 limit args=()
	limit=$((RATE_WARMUP_S + RATE_DURATION_S + 30))
	[[ -z ${AUTH[$t]:-} ]] || args+=(-H "Authorization: ${AUTH[$t]}")
	timeout -k 5 "$limit" "$WORK/loadgen" -url "http://$HOST:${PORT[$t]}$BENCH_PATH" -rate "$rate" \
		-duration "${RATE_DURATION_S}s" -warmup "${RATE_WARMUP_S}s" -conns "$RATE_CONNS" "${args[@]}" >"$out" 2>&1 &
	LOAD_PID=$!
	if ! wait "$LOAD_PID"; then
		LOAD_PID=
		cat "$out" >&2
		die "loadgen against $t failed"
	fi
	LOAD_PID=
	kill -0 "${PID[$t]}" 2>/dev/null || die "$t died during the run (see $WORK/$t.log)"
}

# parse_loadgen OUT prints "count errors bad_status missed achieved p50 p99
# p999 late_p99 answered" from loadgen's key=value line.
parse_loadgen() {
	awk '/^loadgen / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		found = 1
	}
	END {
		if (!found || v["p99_us"] == "") exit 1
		print v["count"], v["errors"], v["bad_status"], v["missed"], v["achieved_rps"], v["p50_us"], v["p99_us"], v["p999_us"], v["late_p99_us"], v["answered"]
	}' "$1"
}

# rate_phase RATE HOW loads the rate targets at RATE requests/s for
# RATE_ROUNDS rounds (order rotating) and writes its markdown section to
# RESULTS_DIR/rate-RATE.md; HOW says where RATE came from.
rate_phase() {
	local rate=$1 how=$2 r t off out try count errs badst missed achieved p50 p99 p999 late answered add50 add99 row
	local rows=() m=${#rate_targets[@]}
	local -A p50s=() p99s=() p999s=() add50s=() add99s=() cpu=() reqs=() round_p50=() round_p99=()
	log "rate phase: ${rate_targets[*]} at $rate req/s ($how), $RATE_ROUNDS rounds of $RATE_DURATION (+$RATE_WARMUP lead-in)"
	for t in "${rate_targets[@]}"; do
		cpu[$t]=0
		reqs[$t]=0
	done
	for ((r = 1; r <= RATE_ROUNDS; r++)); do
		off=$(((r - 1) % m))
		for t in "${rate_targets[@]:off}" "${rate_targets[@]:0:off}"; do
			out="$RESULTS_DIR/rate$rate-round$r-$t.txt"
			for ((try = 0; ; try++)); do
				log "rate $rate round $r/$RATE_ROUNDS: $t"
				measure "$t" run_loadgen "$t" "$rate" "$out"
				disturbed "$try" || break
			done
			read -r count errs badst missed achieved p50 p99 p999 late answered < <(parse_loadgen "$out") ||
				die "cannot parse loadgen output $out"
			cpu[$t]=$((cpu[$t] + RUN_CPU))
			reqs[$t]=$((reqs[$t] + answered))
			p50s[$t]+=" $p50"
			p99s[$t]+=" $p99"
			p999s[$t]+=" $p999"
			round_p50[$t]=$p50
			round_p99[$t]=$p99
			((errs + badst + missed == 0)) || errors_seen=1
			rows+=("$r|$t|$achieved|$p50|$p99|$p999|$late|$((errs + badst + missed))|$count|$RUN_OTHER")
			sleep "$COOLDOWN"
		done
		for t in "${rate_targets[@]}"; do
			[[ $t != bare ]] || continue
			add50s[$t]+=" $((round_p50[$t] - round_p50[bare]))"
			add99s[$t]+=" $((round_p99[$t] - round_p99[bare]))"
		done
	done

	{
		printf '\n#### Rate phase: %s req/s, open loop\n\n' "$rate"
		# shellcheck disable=SC2016 # the backquotes are markdown
		printf -- '- load: `bench/loadgen -rate %s -duration %ss -warmup %ss -conns %s`: a fixed schedule of request starts, latency from each scheduled start to the end of the answer (no coordinated omission); %s rounds, order rotating; %s req/s is %s\n\n' \
			"$rate" "$RATE_DURATION_S" "$RATE_WARMUP_S" "$RATE_CONNS" "$RATE_ROUNDS" "$rate" "$how"
		printf '| round | target | achieved req/s | p50 µs | p99 µs | p99.9 µs | generator late p99 µs | failed | measured requests | others %% |\n'
		printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
		for row in "${rows[@]}"; do
			IFS='|' read -r r t achieved p50 p99 p999 late failed count other <<<"$row"
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$t" "$achieved" "$p50" "$p99" "$p999" "$late" "$failed" "$count" "$other"
		done
		printf '\n| target | p50 µs | p99 µs | p99.9 µs | added p50 µs | added p99 µs | CPU µs/req |\n'
		printf '|---|---:|---:|---:|---:|---:|---:|\n'
		for t in "${rate_targets[@]}"; do
			add50=—
			add99=—
			if [[ $t != bare ]]; then
				# shellcheck disable=SC2086 # the lists are space-separated numbers
				add50=$(median ${add50s[$t]})
				# shellcheck disable=SC2086
				add99=$(median ${add99s[$t]})
			fi
			# shellcheck disable=SC2086
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$(median ${p50s[$t]})" "$(median ${p99s[$t]})" \
				"$(median ${p999s[$t]})" "$add50" "$add99" "$(per_req "${cpu[$t]}" "${reqs[$t]}")"
		done
		printf '\n- medians over rounds; added pNN: the median over rounds of (target − bare) in the same round; CPU µs/req: the server process'\''s CPU over these runs (lead-ins included) / requests it answered\n'
		printf -- '- failed: connection errors, timeouts, statuses other than 200 and requests never started; generator late: how late loadgen started a request after its scheduled time (it is part of every latency above, bare'\''s included)\n'
	} >"$RESULTS_DIR/rate-$rate.md"
}

rates=()
if ((${#rate_targets[@]})); then
	if [[ -n $RATE ]]; then
		read -r -a rates <<<"$RATE"
		for rate in "${rates[@]}"; do
			rate_phase "$rate" "set by RATE"
		done
	else
		read -r -a fractions <<<"$RATE_FRACTIONS"
		for f in "${fractions[@]}"; do
			rate=$(awk -v r="${M_RPS[bare]}" -v f="$f" 'BEGIN { printf "%d\n", r * f }')
			((rate >= 1)) || die "rate phase: $f of bare's median req/s ${M_RPS[bare]} is below 1; set RATE"
			rates+=("$rate")
			rate_phase "$rate" "$f × bare's median req/s above"
		done
	fi
fi

for t in "${targets[@]}"; do
	[[ -z ${ADMIN_PORT[$t]:-} ]] || scrape "$t"
done

# metric NAME FILE LABELS prints the sum of the samples of metric NAME in FILE
# whose labels contain LABELS (e.g. 'result="ok"'), 0 if none.
metric() {
	awk -v name="$1" -v labels="$3" '
	index($0, name) == 1 && (labels == "" || index($0, labels)) { s += $NF }
	END { printf "%d\n", s }' "$2"
}

# --- report ------------------------------------------------------------------

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
wrk_version=$(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }') || true
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" --no-optional-locks status --porcelain 2>/dev/null | head -n 1) ]]; then
	commit+=" (with uncommitted changes)"
fi
[[ -z $KEYGATE_BIN ]] || commit="$KEYGATE_BIN"

{
	printf '### Run of %s\n\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
	printf -- '- machine: %s cores (%s), %s, Linux %s\n' "$(nproc)" "${cpu_model:-unknown CPU}" "$(go version | awk '{ print $3 }')" "$(uname -r)"
	((!need_keygate)) || printf -- '- keygate: %s\n' "$commit"
	# shellcheck disable=SC2016 # the backquotes here and below are markdown
	((!need_keygate)) || [[ -z $KEYGATE_RUNTIME ]] || printf -- '- keygate runtime: `%s`\n' "$KEYGATE_RUNTIME"
	# shellcheck disable=SC2016
	((!need_keygate)) || [[ -z $KEYGATE_UPSTREAM ]] || printf -- '- keygate upstream: `%s`\n' "$KEYGATE_UPSTREAM"
	# shellcheck disable=SC2016
	printf -- '- load: `%s -t%s -c%s -d%s --latency http://127.0.0.1:PORT%s`, same machine, loopback\n' "$wrk_version" "$THREADS" "$CONNS" "$DURATION" "$BENCH_PATH"
	printf -- '- rounds: %s, order rotating per round, warm-up %s per target; baseline for ratios: %s\n' "$ROUNDS" "$WARMUP" "$baseline"
	if ((OTHER_CPU_MAX > 0)); then
		printf -- '- a run during which other processes used more than %s%% of the CPU was run again, up to %s times: %s runs were (rate phase included)\n' "$OTHER_CPU_MAX" "$RERUNS" "$reruns_done"
	fi
	printf '\n'

	printf '#### Per round\n\n'
	printf '| round | target | req/s | p50 ms | p99 ms | socket errors | non-2xx | unexpected | req/s vs %s | others %% |\n' "$baseline"
	printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
	for row in "${rows[@]}"; do
		IFS='|' read -r rr tt rps p50 p99 errs non2xx bad other <<<"$row"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$rr" "$tt" "$rps" "$p50" "$p99" "$errs" "$non2xx" "$bad" \
			"$(ratio "$rps" "${R_RPS[$rr/$baseline]}")" "$other"
	done
	# shellcheck disable=SC2016 # the backquotes are markdown
	printf '\n`non-2xx` is wrk'\''s count of 4xx/5xx answers; `unexpected` counts the answers of the wrong kind: non-2xx for every target but keygate-unknown, 2xx/3xx for keygate-unknown, whose every answer must be a refusal. `others %%`: CPU used during the run by processes this script did not start, in %% of all cores.\n'

	printf '\n#### Medians\n\n'
	printf '| target | req/s | p50 ms | p99 ms | req/s vs %s | p99 vs %s | CPU µs/req | CPU vs %s | peak RSS MiB | upstream conns |\n' "$baseline" "$baseline" "$baseline"
	printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
	for t in "${targets[@]}"; do
		printf '| %s | %.0f | %.3f | %.3f | %s | %s | %s | %s | %s | %s |\n' "$t" "${M_RPS[$t]}" "${M_P50[$t]}" "${M_P99[$t]}" \
			"$(ratio "${M_RPS[$t]}" "${M_RPS[$baseline]}")" "$(ratio "${M_P99[$t]}" "${M_P99[$baseline]}")" \
			"${CPU_US[$t]}" "$(ratio "${CPU_US[$t]}" "${CPU_US[$baseline]}")" "${HWM[$t]}" "${UPCONNS[$t]:-n/a}"
	done
	printf '| upstream (shared) | | | | | | | | %s | |\n' "${HWM[upstream]}"

	printf '\n'
	for t in "${targets[@]}"; do
		[[ $t != "$baseline" ]] || continue
		printf -- '- %s/%s: median req/s ratio **%s**, median p99 ratio **%s**, CPU per request ratio **%s**\n' "$t" "$baseline" \
			"$(ratio "${M_RPS[$t]}" "${M_RPS[$baseline]}")" "$(ratio "${M_P99[$t]}" "${M_P99[$baseline]}")" \
			"$(ratio "${CPU_US[$t]}" "${CPU_US[$baseline]}")"
	done
	printf -- '- CPU µs/req: server process user+system CPU over the measured rounds / requests it served; peak RSS: VmHWM at the end of these rounds; upstream conns: connections the upstream accepted from the target during the measured rounds (a pooling proxy opens none after its warm-up; one that churns opens thousands)\n'
	pairs_out=()
	for pair in keygate-bearer/keygate keygate-bearer-user/keygate keygate-bearer-user/keygate-bearer keygate-apikey/keygate keygate-bearer/nginx keygate/nginx keygate-unix/keygate keygate-rl-fast/keygate-bearer keygate-rl-exact/keygate-bearer keygate-bearer/default keygate/default; do
		a=${pair%/*} b=${pair#*/}
		listed "$a" && listed "$b" && [[ $b != "$baseline" ]] || continue
		per_round=()
		for ((r = 1; r <= ROUNDS; r++)); do
			per_round+=("$(ratio "${R_RPS[$r/$a]}" "${R_RPS[$r/$b]}")")
		done
		pairs_out+=("$(printf -- '- %s/%s: median req/s ratio **%s** (median of the per-round ratios %s), median p99 ratio **%s**, CPU per request ratio **%s**' \
			"$a" "$b" "$(ratio "${M_RPS[$a]}" "${M_RPS[$b]}")" "$(median "${per_round[@]}")" \
			"$(ratio "${M_P99[$a]}" "${M_P99[$b]}")" "$(ratio "${CPU_US[$a]}" "${CPU_US[$b]}")")")
	done
	if ((${#pairs_out[@]})); then
		printf '\nBetween other targets (each round loads both; per-round ratios are of the same round):\n\n'
		printf '%s\n' "${pairs_out[@]}"
	fi
	if listed keygate-unknown; then
		printf -- '- keygate-unknown cycles through %s distinct tokens (%s per wrk thread): at its median %.0f req/s each token recurs every %.1f s (negative cache: 5 s by default)\n' \
			"$UNKNOWN_TOKENS" "$((UNKNOWN_TOKENS / THREADS))" "${M_RPS[keygate-unknown]}" \
			"$(awk -v n="$UNKNOWN_TOKENS" -v r="${M_RPS[keygate-unknown]}" 'BEGIN { print (r > 0 ? n / r : 0) }')"
	fi

	for rate in "${rates[@]}"; do
		cat "$RESULTS_DIR/rate-$rate.md"
	done

	auth_targets=()
	for t in "${targets[@]}"; do
		[[ ${ROUTE_AUTH[$t]:-} != required ]] || auth_targets+=("$t")
	done
	if ((${#auth_targets[@]})); then
		printf '\n#### Server-side counts (keygate /metrics, whole run: probe, warm-up, rounds%s)\n\n' "$( ((${#rates[@]} == 0)) || echo ', rate phase')"
		printf '| target | 2xx | 4xx | 5xx | of which client gone | auth ok | auth unknown | other auth results | cache hits | cache misses |\n'
		printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
		for t in "${auth_targets[@]}"; do
			f="$RESULTS_DIR/metrics-$t.txt"
			ok=$(metric keygate_auth_decisions_total "$f" 'result="ok"')
			unk=$(metric keygate_auth_decisions_total "$f" 'result="unknown"')
			all=$(metric keygate_auth_decisions_total "$f" '')
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" \
				"$(metric keygate_requests_total "$f" 'code="2xx"')" "$(metric keygate_requests_total "$f" 'code="4xx"')" \
				"$(metric keygate_requests_total "$f" 'code="5xx"')" "$(metric keygate_upstream_errors_total "$f" 'kind="canceled"')" \
				"$ok" "$unk" "$((all - ok - unk))" \
				"$(metric keygate_auth_cache_total "$f" 'result="hit"')" "$(metric keygate_auth_cache_total "$f" 'result="miss"')"
			# Anything but the expected decision, or a 5xx that is not a
			# client gone away, makes the run suspect.
			if (($(metric keygate_requests_total "$f" 'code="5xx"') > $(metric keygate_upstream_errors_total "$f" 'kind="canceled"') ||
				all - ok - unk > 0)); then
				errors_seen=1
			fi
			if { [[ $t == keygate-unknown ]] && ((ok > 0)); } || { [[ $t != keygate-unknown ]] && ((unk > 0)); }; then
				errors_seen=1
			fi
		done
		# shellcheck disable=SC2016
		for t in keygate-rl-fast keygate-rl-exact; do
			listed "$t" || continue
			f="$RESULTS_DIR/metrics-$t.txt"
			allowed=$(metric keygate_ratelimit_decisions_total "$f" 'result="allowed"')
			decided=$(metric keygate_ratelimit_decisions_total "$f" '')
			printf -- '\n- %s: rate-limit decisions %s, of which allowed %s (anything else — limited, degraded, fail_open/closed — makes the run suspect)\n' "$t" "$decided" "$allowed"
			((allowed > 0 && allowed == decided)) || errors_seen=1
		done
		printf '\nkeygate-bearer and keygate-apikey must show only `auth ok`, nearly all cache hits; keygate-unknown only `auth unknown` (401 invalid_token) and 4xx, and mostly cache misses (each a store look-up). `client gone`: requests in flight when wrk stopped at the end of a run and closed its connections, which keygate counts as 5xx (`keygate_upstream_errors_total{kind="canceled"}`); any other 5xx is a real failure.\n'
	fi

	if ((errors_seen)); then
		printf '\n- **some runs had socket errors, unexpected statuses or failed requests: see the tables; those figures are suspect**\n'
	fi
} | tee "$RESULTS_DIR/summary.md"

log "raw output and summary in $RESULTS_DIR"
