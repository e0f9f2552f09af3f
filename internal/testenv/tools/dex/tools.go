//go:build tools

// Package dex pins the Dex OIDC provider that the sign-in tests start; build.sh builds it.
package dex

import _ "github.com/dexidp/dex/cmd/dex"
