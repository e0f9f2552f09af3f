#!/usr/bin/env bash
# Builds helm, pinned in go.mod beside this script, for the chart tests in
# deploy/, into ${REWIND_TOOLS_CACHE:-$HOME/.cache/rewind-tools}/helm-<version>/bin/helm
# (see ../build.sh). It shares most of the Go build cache with the test
# cluster's build (the same k8s.io modules).
HELM_VERSION=v4.3.2 # must match go.mod and internal/testenv/tools.go (TestToolVersionsMatchBuildScripts)
exec "$(dirname "${BASH_SOURCE[0]}")/../build.sh" helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION" \
	-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
