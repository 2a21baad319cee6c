#!/usr/bin/env bash
# release.sh: build keygate's release binaries.
#
# For each target: a static binary (CGO_ENABLED=0), built with -trimpath so
# it holds no path of this machine, and stamped with the commit
# (-buildvcs=true, whatever GOFLAGS says), named keygate_OS_ARCH. Then
# SHA256SUMS over the binaries and a CycloneDX SBOM of the modules compiled
# into cmd/keygate (keygate.cdx.json, made by cyclonedx-gomod, fetched from
# the Go module proxy by `go run`). `keygate version` of each binary names
# its module version, commit and Go version.
#
# Usage: scripts/release.sh [OUT_DIR]      (default: dist)
#
# Environment (defaults in brackets):
#   TARGETS          GOOS/GOARCH pairs ["linux/amd64 linux/arm64 darwin/arm64"]
#   CYCLONEDX_GOMOD  cyclonedx-gomod's module version [v1.10.0]
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist}
targets=${TARGETS:-linux/amd64 linux/arm64 darwin/arm64}
cyclonedx=${CYCLONEDX_GOMOD:-v1.10.0}
mkdir -p "$out"

for target in $targets; do
  goos=${target%/*}
  goarch=${target#*/}
  bin="keygate_${goos}_${goarch}"
  echo "release.sh: building $bin" >&2
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch \
    go build -trimpath -buildvcs=true -ldflags='-s -w' -o "$out/$bin" ./cmd/keygate
done

echo "release.sh: SHA256SUMS" >&2
(cd "$out" && sha256sum keygate_* >SHA256SUMS)

echo "release.sh: SBOM (cyclonedx-gomod $cyclonedx)" >&2
go run "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$cyclonedx" \
  app -json -licenses=false -main cmd/keygate -output "$out/keygate.cdx.json" . 2>/dev/null

echo "release.sh: done: $(cd "$out" && ls | tr '\n' ' ')" >&2
