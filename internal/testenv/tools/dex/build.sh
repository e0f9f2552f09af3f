#!/usr/bin/env bash
# Builds Dex, the OIDC provider of the sign-in tests (v2.41.1; the module
# has no semver tags Go accepts, hence the pseudo-version). cmd/dex links
# SQLite (mattn/go-sqlite3), so it needs cgo and gcc; the tests use its memory storage.
CGO_ENABLED=1 exec "$(dirname "${BASH_SOURCE[0]}")/../build.sh" dex github.com/dexidp/dex/cmd/dex v0.0.0-20240807174518-43956db7fd75
