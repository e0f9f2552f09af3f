//go:build tools

// Package glauth pins the glauth LDAP server that the sign-in tests start; build.sh builds it.
package glauth

import _ "github.com/glauth/glauth/v2"
