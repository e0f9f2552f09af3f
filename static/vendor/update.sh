#!/bin/sh
# update.sh re-vendors htmx from its npm package at the pinned version.
# Usage: static/vendor/update.sh   (run from anywhere; needs npm and tar)
# To move to another version, change HTMX_VERSION, run this, and review the diff.
set -eu

HTMX_VERSION=2.0.11

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "htmx.org@${HTMX_VERSION}" >/dev/null)
tar -xzf "$tmp/htmx.org-${HTMX_VERSION}.tgz" -C "$tmp"

cp "$tmp/package/dist/htmx.min.js" "$here/htmx.min.js"
cp "$tmp/package/LICENSE" "$here/htmx.LICENSE"
printf 'htmx.org %s (npm)\n' "$HTMX_VERSION" >"$here/htmx.VERSION"

echo "vendored htmx.org ${HTMX_VERSION} into ${here}"
