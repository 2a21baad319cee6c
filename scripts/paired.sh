#!/usr/bin/env bash
# paired.sh: what authentication costs keygate in CPU, measured with both
# sides loaded at the same time.
#
# bench.sh loads its targets one after another, and on this shared machine
# the CPU's own speed drifts between runs a minute apart (bare's requests/s
# moved from 17,900 to 10,200 within one run), which moves CPU per request
# by 10-20 % too. Here two keygate processes, one with an auth: none route
# ("off") and one requiring a valid Bearer key token ("on"), serve the same
# upstream at the same time, each loaded by its own bench/loadgen at the
# same fixed rate. Whatever the machine does during a round, it does to
# both, so the ratio of their CPU per request (user + system time from
# /proc, over the requests answered) is steady where the absolute figures
# are not.
#
# The rate matters: at a low rate every request wakes the process up on its
# own, and that fixed cost dilutes authentication's share; near saturation
# requests are served in batches and authentication's share is largest.
#
# Environment (defaults in brackets):
#   RATE      requests/s sent to each of the two [4000]
#   DURATION  length of one round [15s]
#   ROUNDS    rounds [5]
#   CONNS     loadgen connections per target [32]
#   IDENTITY  auth.upstream_identity of "on", e.g. "[user]" [keygate's default: all five]
#
# It prints one markdown table (per round, then the median) on stdout.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RATE=${RATE:-4000}
DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-32}
IDENTITY=${IDENTITY:-}
HOST=127.0.0.1
UPSTREAM_PORT=9401
OFF_PORT=9402 OFF_ADMIN=9492
ON_PORT=9403 ON_ADMIN=9493

log() { echo "paired.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}
[[ $RATE =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ && $CONNS =~ ^[1-9][0-9]*$ ]] || die "RATE, ROUNDS and CONNS must be whole numbers"
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] || die "DURATION must be whole seconds, e.g. 15s"
for p in $UPSTREAM_PORT $OFF_PORT $OFF_ADMIN $ON_PORT $ON_ADMIN; do
	! (exec 3<>/dev/tcp/$HOST/$p) 2>/dev/null || die "port $p is taken"
done

WORK=$(mktemp -d /tmp/keygate-paired.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

log "building into $WORK"
(cd "$ROOT" && go build -o "$WORK/keygate" ./cmd/keygate && go build -o "$WORK/upstream" ./bench/upstream &&
	go build -o "$WORK/loadgen" ./bench/loadgen)

cat >"$WORK/off.yaml" <<EOF
listen: $HOST:$OFF_PORT
admin_listen: $HOST:$OFF_ADMIN
log: {level: warn, access_log: false}
store: {driver: embedded, embedded: {path: $WORK/off.db}}
routes:
  - {name: bench, path_prefix: /, upstream: "http://$HOST:$UPSTREAM_PORT", auth: none}
EOF
{
	cat <<EOF
listen: $HOST:$ON_PORT
admin_listen: $HOST:$ON_ADMIN
log: {level: warn, access_log: false}
store: {driver: embedded, embedded: {path: $WORK/on.db}}
auth:
  digest_keys: [{id: b1, secret: "$(head -c 48 /dev/urandom | base64 -w0)"}]
EOF
	[[ -z $IDENTITY ]] || echo "  upstream_identity: $IDENTITY"
	echo "routes:"
	echo "  - {name: bench, path_prefix: /, upstream: \"http://$HOST:$UPSTREAM_PORT\", auth: required, api_set: bench}"
} >"$WORK/on.yaml"
"$WORK/keygate" users add bench --api-sets bench --scopes read,write -config "$WORK/on.yaml" >/dev/null 2>&1
token=$("$WORK/keygate" keys create bench --handle bench -config "$WORK/on.yaml" 2>/dev/null)
[[ $token == kg* ]] || die "could not create the key token"

"$WORK/upstream" -addr $HOST:$UPSTREAM_PORT 2>"$WORK/upstream.log" &
pids+=($!)
"$WORK/keygate" serve -config "$WORK/off.yaml" 2>"$WORK/off.log" &
off=$!
pids+=($off)
"$WORK/keygate" serve -config "$WORK/on.yaml" 2>"$WORK/on.log" &
on=$!
pids+=($on)
for i in $(seq 50); do
	a=$(curl -s -o /dev/null -w '%{http_code}' http://$HOST:$OFF_PORT/bench/item || true)
	b=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" http://$HOST:$ON_PORT/bench/item || true)
	[[ $a == 200 && $b == 200 ]] && break
	sleep 0.2
done
[[ $a == 200 && $b == 200 ]] || die "the two keygates did not answer 200 (off: $a, on: $b)"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
tick=$(getconf CLK_TCK)
load() { # load PORT OUT [HEADER]
	"$WORK/loadgen" -url "http://$HOST:$1/bench/item" -rate "$RATE" -duration "$DURATION" -warmup 1s -conns "$CONNS" ${3:+-H "$3"} >"$2"
}

log "$ROUNDS rounds of $DURATION at $RATE req/s each"
echo "| round | off CPU µs/req | on CPU µs/req | on / off | off p99 ms | on p99 ms |"
echo "|---:|---:|---:|---:|---:|---:|"
ratios=()
for r in $(seq "$ROUNDS"); do
	a0=$(cpu $off) b0=$(cpu $on)
	load $OFF_PORT "$WORK/off.$r" &
	la=$!
	load $ON_PORT "$WORK/on.$r" "Authorization: Bearer $token" &
	lb=$!
	wait $la $lb
	a1=$(cpu $off) b1=$(cpu $on)
	row=$(awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v t="$tick" -v r="$r" '
		FNR == 1 { f++ }
		/^loadgen / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[f, kv[1]] = kv[2] } }
		END {
			if (v[1, "bad_status"] + v[1, "errors"] + v[2, "bad_status"] + v[2, "errors"] > 0) exit 1
			ca = a / t * 1e6 / v[1, "answered"]; cb = b / t * 1e6 / v[2, "answered"]
			printf "| %d | %.1f | %.1f | %.3f | %.2f | %.2f |\n", r, ca, cb, cb / ca, v[1, "p99_us"] / 1000, v[2, "p99_us"] / 1000
		}' "$WORK/off.$r" "$WORK/on.$r") || die "round $r: a request failed (see $WORK/off.$r, $WORK/on.$r)"
	echo "$row"
	ratios+=("$(echo "$row" | awk -F'|' '{gsub(/ /, "", $5); print $5}')")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {printf "| median | | | **%.3f** | | |\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
