#!/usr/bin/env bash
# Builds helm, pinned in go.mod beside this script, for the chart tests
# (deploy/), into the tools cache:
#
#   ${REWIND_TOOLS_CACHE:-$HOME/.cache/rewind-tools}/helm-<version>/bin/helm
#
# Idempotent: when the binary is there it returns at once. A cold build takes
# a few minutes on 2 cores; it shares the Go build cache with the test
# cluster's build (the same k8s.io modules).
set -euo pipefail

HELM_VERSION=v4.3.2 # must match go.mod (checked below) and helmVersion in internal/testenv/tools.go

CACHE="${REWIND_TOOLS_CACHE:-$HOME/.cache/rewind-tools}"
OUT="$CACHE/helm-$HELM_VERSION"
BIN="$OUT/bin/helm"

if [[ -x "$BIN" ]]; then
	echo "helm: up to date: $BIN"
	exit 0
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
mkdir -p "$OUT/bin"

# Serialise concurrent builds into the same cache folder.
exec 9>"$OUT/.lock"
flock 9
if [[ -x "$BIN" ]]; then
	echo "helm: up to date: $BIN"
	exit 0
fi

export GOWORK=off CGO_ENABLED=0
export GOFLAGS="-mod=mod -trimpath -buildvcs=false"

have="$(go list -m -f '{{.Version}}' helm.sh/helm/v4)"
if [[ "$have" != "$HELM_VERSION" ]]; then
	echo "helm: build.sh wants $HELM_VERSION but go.mod has $have" >&2
	exit 1
fi

start=$SECONDS
echo "helm: building $HELM_VERSION"
TMP="$(mktemp -d "$OUT/build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
go build -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
	-o "$TMP/helm" helm.sh/helm/v4/cmd/helm
mv "$TMP/helm" "$BIN"
echo "helm: built in $((SECONDS - start))s: $BIN"
