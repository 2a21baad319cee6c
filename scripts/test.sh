#!/usr/bin/env bash
# The whole test suite, as README's second command and CI run it:
# installs what the tests need when it is missing (redis-server, chromium,
# buildah, promtool, nginx-light, caddy), then
# gofmt, go vet and go test -race over every package. Fuzz targets run on
# their seed corpus (testdata/fuzz) as part of go test.
#
# Environment:
#   KEYGATE_TEST_REDIS_ADDR  use this Redis instead of private redis-server
#                            processes (tests that restart Redis still need
#                            the binary)
#   GOTESTFLAGS              extra flags for go test (e.g. -run TestPath -v)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The account pages' browser tests drive Debian's chromium headless.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The deploy module builds and runs the container image with buildah (no
# Docker engine needed) and checks the alert rules with promtool.
command -v buildah >/dev/null 2>&1 || need_apt+=(buildah)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# The forward-auth tests run Debian's nginx (auth_request) and Caddy
# (forward_auth) in front of keygate.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v caddy >/dev/null 2>&1 || need_apt+=(caddy)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: missing ${need_apt[*]}: install it (e.g. sudo apt-get install ${need_apt[*]}) and run again" >&2
    exit 1
  fi
fi
command -v go >/dev/null 2>&1 || { echo "test.sh: Go is not installed (https://go.dev/dl/)" >&2; exit 1; }

echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet" >&2
go vet ./...

echo "== deploy module (the image built and run, Kubernetes manifests, Helm chart, alert rules, dashboard)" >&2
(cd deploy && go vet ./... && go test -count=1 ./...)

echo "== allocation tests without -race (the race detector makes sync.Pool drop items)" >&2
go test -count=1 -run 'Alloc' ./authz ./proxy ./ratelimit

echo "== go test -race" >&2
# shellcheck disable=SC2086
go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} ./...
