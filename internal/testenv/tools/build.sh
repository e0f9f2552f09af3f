#!/usr/bin/env bash
# Builds one tool that the tests start, from the pinned Go module in
# internal/testenv/tools/<tool>/ (its go.mod names the version), into
#
#   ${REWIND_TOOLS_CACHE:-$HOME/.cache/rewind-tools}/<tool>-<version>/bin/<tool>
#
# Usage: build.sh TOOL PACKAGE VERSION [BUILD FLAGS...]
# Idempotent: when the binary is there it returns at once. Concurrent builds
# of the same tool wait for each other (flock on the cache folder).
set -euo pipefail

TOOL="$1" PKG="$2" VERSION="$3"
shift 3
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/$TOOL" && pwd)"
CACHE="${REWIND_TOOLS_CACHE:-$HOME/.cache/rewind-tools}"
OUT="$CACHE/$TOOL-$VERSION"
BIN="$OUT/bin/$TOOL"

if [[ -x "$BIN" ]]; then
	echo "$TOOL: up to date: $BIN"
	exit 0
fi
mkdir -p "$OUT/bin"
exec 9>"$OUT/.lock"
flock 9
if [[ -x "$BIN" ]]; then
	echo "$TOOL: up to date: $BIN"
	exit 0
fi

cd "$HERE"
export GOWORK=off CGO_ENABLED="${CGO_ENABLED:-0}"
export GOFLAGS="-mod=mod -trimpath -buildvcs=false"
have="$(go list -m -f '{{.Version}}' "$(go list -f '{{.Module.Path}}' "$PKG")")"
if [[ "$have" != "$VERSION" ]]; then
	echo "$TOOL: build.sh wants $VERSION but $HERE/go.mod has $have" >&2
	exit 1
fi
start=$SECONDS
echo "$TOOL: building $PKG@$VERSION"
TMP="$(mktemp -d "$OUT/build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
go build -ldflags "-s -w" "$@" -o "$TMP/$TOOL" "$PKG"
mv "$TMP/$TOOL" "$BIN"
echo "$TOOL: built in $((SECONDS - start))s: $BIN"
