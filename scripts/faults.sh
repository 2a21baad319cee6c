#!/usr/bin/env bash
# faults.sh: the fault suite's long versions, and the figures they measured.
#
#   scripts/faults.sh [go test flags]      e.g. scripts/faults.sh -race
#
# Runs the tests named TestFault… (gateway/, cmd/keygate/) with
# KEYGATE_FAULTS_LONG=1: Redis killed under load and restarted, a Sentinel
# failover under load, hanging, dying and half-body upstreams, slowloris,
# reloads and SIGTERM under load, SIGKILL of a process writing the embedded
# store, and a soak — minutes each instead of the seconds of the default
# suite. The tests assert what every request got; what it cost they log as
# "figure:" lines, which this script collects into a table at the end (the
# figures are computed by the tests, in Go). Needs redis-server in PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null 2>&1 || { echo "faults.sh: redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
KEYGATE_FAULTS_LONG=1 go test -run '^TestFault' -v -count=1 -p 1 -timeout 30m "$@" ./gateway/ ./cmd/keygate/ >"$out" 2>&1 || status=$?
grep -E '^(--- |ok |FAIL)' "$out" || true
if [ "$status" -ne 0 ]; then
	echo "faults.sh: go test failed (exit $status); its output:" >&2
	grep -vE '^\s*$' "$out" | grep -vE 'figure: ' | tail -60 >&2
fi
echo
echo "| test | figure | value |"
echo "|---|---|---|"
grep -o 'figure: .*' "$out" | sed -e 's/^figure: Test/| /' -e 's/$/ |/'
exit "$status"
