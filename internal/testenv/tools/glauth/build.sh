#!/usr/bin/env bash
# Builds glauth, the LDAP server of the sign-in tests.
exec "$(dirname "${BASH_SOURCE[0]}")/../build.sh" glauth github.com/glauth/glauth/v2 v2.4.0
