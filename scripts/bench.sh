#!/usr/bin/env bash
# bench.sh: load keygate and a bare httputil.ReverseProxy with wrk, side by
# side, and print the figures as markdown for docs/benchmarks.md.
#
# Builds cmd/keygate, bench/upstream and bench/bareproxy into a temporary
# directory, starts the upstream and one server per target on loopback, warms
# each target up, then runs ROUNDS rounds that load every target in turn (the
# order rotates each round, so no target always goes first) and reports, per
# round and as medians: requests/s, p50 and p99 latency, each target's ratio
# to the baseline, CPU per request and peak RSS of each server process.
#
# The markdown report goes to stdout (and RESULTS_DIR/summary.md); progress
# goes to stderr. Every process it starts is stopped on exit.
#
# Environment (defaults in brackets):
#   TARGETS     targets to load, in order ["bare keygate"]:
#                 bare         bench/bareproxy, a ReverseProxy tuned like keygate's
#                 default      bench/bareproxy -default: NewSingleHostReverseProxy, DefaultTransport
#                 keygate      keygate serve, one auth: none route, access log off
#                 keygate-log  the same with access_log: true
#               The baseline for ratios is bare if listed, else the first target.
#   ACCESS_LOG  1 adds keygate-log after keygate [0]
#   ROUNDS      measured rounds [5]
#   DURATION    wrk -d of one measured run [10s]
#   WARMUP      wrk -d of the warm-up run per target, before round 1 [2s]
#   CONNS       wrk -c [64]
#   THREADS     wrk -t [2]
#   BENCH_PATH  request path [/bench/item]
#   COOLDOWN    seconds of pause between runs [1]
#   RESULTS_DIR raw wrk output, server log tails and summary.md
#               [bench/results/YYYYmmdd-HHMMSS, git-ignored]
#   KEYGATE_BIN use this keygate binary instead of building ./cmd/keygate
#   KEEP_TMP    1 keeps the temporary directory (binaries, configs, logs) [0]
#
# Examples:
#   scripts/bench.sh
#   ROUNDS=3 DURATION=5s TARGETS="bare default" scripts/bench.sh
#   ACCESS_LOG=1 scripts/bench.sh > /tmp/bench.md
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
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}
KEYGATE_BIN=${KEYGATE_BIN:-}
KEEP_TMP=${KEEP_TMP:-0}

# Only loopback: every address below is on this host.
HOST=127.0.0.1
UPSTREAM_PORT=9001
declare -A PORT=([bare]=9002 [keygate]=9003 [default]=9004 [keygate-log]=9005)
declare -A ADMIN_PORT=([keygate]=9093 [keygate-log]=9095)

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

# --- inputs ------------------------------------------------------------------

for v in ROUNDS CONNS THREADS COOLDOWN; do
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
	[[ -n ${PORT[$t]:-} ]] || die "unknown target '$t' (want bare, default, keygate, keygate-log)"
	[[ -z ${seen[$t]:-} ]] || die "target '$t' listed twice"
	seen[$t]=1
done
baseline=${targets[0]}
[[ -z ${seen[bare]:-} ]] || baseline=bare
need_keygate=0
[[ -z ${seen[keygate]:-}${seen[keygate-log]:-} ]] || need_keygate=1

# --- processes and cleanup ---------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keygate-bench.XXXXXX")
mkdir -p "$RESULTS_DIR"
declare -A PID=() # server name -> pid
WRK_PID=

cleanup() {
	local rc=$? name pid i
	trap - EXIT INT TERM HUP
	if [[ -n $WRK_PID ]]; then
		kill -TERM "$WRK_PID" 2>/dev/null || true
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

# probe NAME PORT checks that GET BENCH_PATH answers 200, so that wrk loads
# the proxy path and not a 404 or 401 short cut.
probe() {
	local name=$1 port=$2 status
	status=$(
		exec 3<>"/dev/tcp/$HOST/$port"
		printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$BENCH_PATH" "$HOST" "$port" >&3
		IFS=' ' read -r -t 5 _ code _ <&3 && printf '%s' "$code"
	) || true
	[[ $status == 200 ]] || die "$name: GET $BENCH_PATH answered '${status:-nothing}', want 200 (see $WORK/$name.log)"
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

log "building into $WORK"
(cd "$ROOT" && go build -o "$WORK/upstream" ./bench/upstream && go build -o "$WORK/bareproxy" ./bench/bareproxy)
if ((need_keygate)); then
	if [[ -n $KEYGATE_BIN ]]; then
		[[ -x $KEYGATE_BIN ]] || die "KEYGATE_BIN=$KEYGATE_BIN is not executable"
		cp "$KEYGATE_BIN" "$WORK/keygate"
	else
		(cd "$ROOT" && go build -o "$WORK/keygate" ./cmd/keygate) ||
			die "building ./cmd/keygate failed; TARGETS=\"bare default\" runs without it"
	fi
fi

# write_config NAME ACCESS_LOG writes WORK/NAME.yaml: one auth: none route
# for every path to the upstream.
write_config() {
	local name=$1 access_log=$2
	cat >"$WORK/$name.yaml" <<EOF
listen: $HOST:${PORT[$name]}
admin_listen: $HOST:${ADMIN_PORT[$name]}
log: {level: warn, access_log: $access_log}
store: {driver: embedded, embedded: {path: $WORK/$name.db}}
routes:
  - name: bench
    path_prefix: /
    upstream: http://$HOST:$UPSTREAM_PORT
    auth: none
EOF
}

# --- start -------------------------------------------------------------------

start upstream "$UPSTREAM_PORT" "$WORK/upstream" -addr "$HOST:$UPSTREAM_PORT"
wait_port upstream "$UPSTREAM_PORT"
for t in "${targets[@]}"; do
	case $t in
	bare) start "$t" "${PORT[$t]}" "$WORK/bareproxy" -addr "$HOST:${PORT[$t]}" -upstream "http://$HOST:$UPSTREAM_PORT" ;;
	default) start "$t" "${PORT[$t]}" "$WORK/bareproxy" -default -addr "$HOST:${PORT[$t]}" -upstream "http://$HOST:$UPSTREAM_PORT" ;;
	keygate | keygate-log)
		al=false
		[[ $t == keygate-log ]] && al=true
		write_config "$t" "$al"
		! port_open "${ADMIN_PORT[$t]}" || die "port $HOST:${ADMIN_PORT[$t]} is already in use"
		start "$t" "${PORT[$t]}" "$WORK/keygate" serve -config "$WORK/$t.yaml"
		;;
	esac
done
for t in "${targets[@]}"; do
	wait_port "$t" "${PORT[$t]}"
	[[ -z ${ADMIN_PORT[$t]:-} ]] || wait_port "$t" "${ADMIN_PORT[$t]}"
	probe "$t" "${PORT[$t]}"
done
log "servers up: upstream=${PID[upstream]}$(for t in "${targets[@]}"; do printf ' %s=%s' "$t" "${PID[$t]}"; done)"

# --- load --------------------------------------------------------------------

# run_wrk TARGET DURATION OUT loads TARGET with wrk for DURATION into OUT.
run_wrk() {
	local t=$1 dur=$2 out=$3 limit
	limit=$(($(seconds "$dur") + 30))
	timeout -k 5 "$limit" wrk -t"$THREADS" -c"$CONNS" -d"$dur" --timeout 5s --latency \
		"http://$HOST:${PORT[$t]}$BENCH_PATH" >"$out" 2>&1 &
	WRK_PID=$!
	if ! wait "$WRK_PID"; then
		WRK_PID=
		cat "$out" >&2
		die "wrk against $t failed"
	fi
	WRK_PID=
	kill -0 "${PID[$t]}" 2>/dev/null || die "$t died during the run (see $WORK/$t.log)"
}

# parse OUT prints "rps p50_ms p99_ms requests errors" from wrk output, where
# errors counts socket errors and non-2xx/3xx responses.
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
	/Non-2xx or 3xx responses:/ { errs += $NF }
	END {
		if (rps == "" || p99 == "") exit 1
		printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, reqs, errs
	}' "$1"
}

# cpu_ticks PID prints the process's user+system CPU time in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# median prints the median of its numeric arguments.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B prints A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }

n=${#targets[@]}
total=$((n * (WARMUP_S + ROUNDS * (DURATION_S + COOLDOWN)) + 5))
log "targets: ${targets[*]} (baseline $baseline); $ROUNDS rounds of $DURATION, warm-up $WARMUP; about ${total}s"

for t in "${targets[@]}"; do
	log "warm-up $t ($WARMUP)"
	run_wrk "$t" "$WARMUP" "$RESULTS_DIR/warmup-$t.txt"
	sleep "$COOLDOWN"
done

declare -A CPU0=() REQS=() RPS=() P50=() P99=()
for t in "${targets[@]}"; do
	CPU0[$t]=$(cpu_ticks "${PID[$t]}")
	REQS[$t]=0
done

rows=()         # "round|target|rps|p50|p99|errors" in the order run
declare -A R_RPS=() # "round/target" -> rps, for per-round ratios
errors_seen=0
for ((r = 1; r <= ROUNDS; r++)); do
	off=$(((r - 1) % n))
	order=("${targets[@]:off}" "${targets[@]:0:off}")
	for t in "${order[@]}"; do
		out="$RESULTS_DIR/round$r-$t.txt"
		log "round $r/$ROUNDS: $t"
		run_wrk "$t" "$DURATION" "$out"
		read -r rps p50 p99 reqs errs < <(parse "$out") || die "cannot parse wrk output $out"
		RPS[$t]+=" $rps"
		P50[$t]+=" $p50"
		P99[$t]+=" $p99"
		REQS[$t]=$((REQS[$t] + reqs))
		R_RPS[$r/$t]=$rps
		((errs == 0)) || errors_seen=1
		rows+=("$r|$t|$rps|$p50|$p99|$errs")
		sleep "$COOLDOWN"
	done
done

# --- report ------------------------------------------------------------------

clk=$(getconf CLK_TCK)
declare -A CPU_US=() HWM=()
for t in "${targets[@]}"; do
	ticks=$(($(cpu_ticks "${PID[$t]}") - CPU0[$t]))
	CPU_US[$t]=$(awk -v t="$ticks" -v c="$clk" -v n="${REQS[$t]}" 'BEGIN { if (n == 0) print "n/a"; else printf "%.1f\n", t / c * 1e6 / n }')
done
for name in upstream "${targets[@]}"; do
	HWM[$name]=$(awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/${PID[$name]}/status")
done

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
wrk_version=$(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }') || true

{
	printf '### Run of %s\n\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
	printf -- '- machine: %s cores (%s), %s, Linux %s\n' "$(nproc)" "${cpu_model:-unknown CPU}" "$(go version | awk '{ print $3 }')" "$(uname -r)"
	# shellcheck disable=SC2016 # the backquotes are markdown
	printf -- '- load: `%s -t%s -c%s -d%s --latency http://127.0.0.1:PORT%s`, same machine, loopback\n' "$wrk_version" "$THREADS" "$CONNS" "$DURATION" "$BENCH_PATH"
	printf -- '- rounds: %s, order rotating per round, warm-up %s per target; baseline for ratios: %s\n\n' "$ROUNDS" "$WARMUP" "$baseline"

	printf '#### Per round\n\n'
	printf '| round | target | req/s | p50 ms | p99 ms | errors | req/s vs %s |\n' "$baseline"
	printf '|---:|---|---:|---:|---:|---:|---:|\n'
	for row in "${rows[@]}"; do
		IFS='|' read -r rr tt rps p50 p99 errs <<<"$row"
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$rr" "$tt" "$rps" "$p50" "$p99" "$errs" \
			"$(ratio "$rps" "${R_RPS[$rr/$baseline]}")"
	done

	printf '\n#### Medians\n\n'
	printf '| target | req/s | p50 ms | p99 ms | req/s vs %s | p99 vs %s | CPU µs/req | peak RSS MiB |\n' "$baseline" "$baseline"
	printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
	declare -A M_RPS=() M_P99=()
	for t in "${targets[@]}"; do
		# shellcheck disable=SC2086 # the lists are space-separated numbers
		M_RPS[$t]=$(median ${RPS[$t]})
		# shellcheck disable=SC2086
		M_P99[$t]=$(median ${P99[$t]})
	done
	for t in "${targets[@]}"; do
		# shellcheck disable=SC2086
		printf '| %s | %.0f | %.3f | %.3f | %s | %s | %s | %s |\n' "$t" "${M_RPS[$t]}" "$(median ${P50[$t]})" "${M_P99[$t]}" \
			"$(ratio "${M_RPS[$t]}" "${M_RPS[$baseline]}")" "$(ratio "${M_P99[$t]}" "${M_P99[$baseline]}")" \
			"${CPU_US[$t]}" "${HWM[$t]}"
	done
	printf '| upstream (shared) | | | | | | | %s |\n' "${HWM[upstream]}"

	printf '\n'
	for t in "${targets[@]}"; do
		[[ $t != "$baseline" ]] || continue
		printf -- '- %s/%s: median req/s ratio **%s**, median p99 ratio **%s**\n' "$t" "$baseline" \
			"$(ratio "${M_RPS[$t]}" "${M_RPS[$baseline]}")" "$(ratio "${M_P99[$t]}" "${M_P99[$baseline]}")"
	done
	printf -- '- CPU µs/req: server process user+system CPU over the measured rounds / requests it served; peak RSS: VmHWM at the end\n'
	if ((errors_seen)); then
		printf -- '- **some runs had socket errors or non-2xx responses: see the errors column; those figures are suspect**\n'
	fi
} | tee "$RESULTS_DIR/summary.md"

log "raw wrk output and summary in $RESULTS_DIR"
