#!/usr/bin/env bash
# Builds the binaries of the Rewind test cluster (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) from the module in this
# folder, and copies kwok's Stage files next to them.
#
# Output: ${REWIND_TESTENV_CACHE:-$HOME/.cache/rewind-testenv}/<key>/bin
#         ${REWIND_TESTENV_CACHE:-$HOME/.cache/rewind-testenv}/<key>/stages
#
# Idempotent: when everything is there it returns at once. A cold build takes
# about 15 minutes on 2 cores and fills ~6 GB of Go caches.
#
# The versions below must match go.mod (checked on every build) and the
# cacheKey constant in ../testenv.go (checked by TestCacheKeyMatchesBuildScript).
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0 # the go.etcd.io/etcd/server/v3 that k8s.io/kubernetes v1.37.2 requires
KWOK_VERSION=v0.8.0
KEY="k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}"

CACHE="${REWIND_TESTENV_CACHE:-$HOME/.cache/rewind-testenv}"
OUT="$CACHE/$KEY"
BIN="$OUT/bin"
STAGES="$OUT/stages"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

complete() {
	local b
	for b in "${BINARIES[@]}"; do
		[[ -x "$BIN/$b" ]] || return 1
	done
	[[ -f "$STAGES/.complete" ]]
}

if complete; then
	echo "testenv: up to date: $OUT"
	exit 0
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
mkdir -p "$OUT"

# Serialise concurrent builds into the same cache folder.
exec 9>"$OUT/.lock"
flock 9
if complete; then
	echo "testenv: up to date: $OUT"
	exit 0
fi

export GOWORK=off CGO_ENABLED=0
export GOFLAGS="-mod=mod -trimpath -buildvcs=false"

echo "testenv: checking module versions"
have="$(go list -m -f '{{.Path}} {{.Version}}' k8s.io/kubernetes go.etcd.io/etcd/server/v3 sigs.k8s.io/kwok)"
want="k8s.io/kubernetes $K8S_VERSION
go.etcd.io/etcd/server/v3 $ETCD_VERSION
sigs.k8s.io/kwok $KWOK_VERSION"
if [[ "$have" != "$want" ]]; then
	echo "testenv: build.sh versions disagree with go.mod:" >&2
	echo "go.mod:   $have" | tr '\n' ' ' >&2
	echo >&2
	echo "build.sh: $want" | tr '\n' ' ' >&2
	echo >&2
	exit 1
fi

echo "testenv: downloading modules"
go mod download

mkdir -p "$BIN"
TMP="$(mktemp -d "$OUT/build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

KV=k8s.io/component-base/version
LDFLAGS="-s -w"
LDFLAGS+=" -X $KV.gitVersion=$K8S_VERSION -X $KV.gitMajor=$(echo "${K8S_VERSION#v}" | cut -d. -f1)"
LDFLAGS+=" -X $KV.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $KV.gitTreeState=clean"
LDFLAGS+=" -X $KV.buildDate=1970-01-01T00:00:00Z"
LDFLAGS+=" -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
LDFLAGS+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}"

build() { # name package
	local start=$SECONDS
	echo "testenv: building $1 ($2)"
	go build -ldflags "$LDFLAGS" -o "$TMP/$1" "$2"
	mv "$TMP/$1" "$BIN/$1"
	echo "testenv: built $1 in $((SECONDS - start))s"
}

total=$SECONDS
[[ -x "$BIN/etcd" ]] || build etcd go.etcd.io/etcd/server/v3
[[ -x "$BIN/kwok" ]] || build kwok sigs.k8s.io/kwok/cmd/kwok
[[ -x "$BIN/kube-scheduler" ]] || build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
[[ -x "$BIN/kube-controller-manager" ]] || build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
[[ -x "$BIN/kube-apiserver" ]] || build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

echo "testenv: copying kwok stages"
KWOK_DIR="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
rm -rf "$STAGES"
for d in node/fast node/heartbeat node/heartbeat-with-lease pod/fast pod/general pod/chaos; do
	mkdir -p "$STAGES/$d"
	cp "$KWOK_DIR/kustomize/stage/$d"/*.yaml "$STAGES/$d/"
	rm -f "$STAGES/$d/kustomization.yaml"
done
chmod -R u+w "$STAGES"
touch "$STAGES/.complete"

echo "testenv: done in $((SECONDS - total))s: $OUT"
