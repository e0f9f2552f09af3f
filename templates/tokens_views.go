package templates

import (
	"context"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// tokenScope says what a token may do.
func tokenScope(ctx context.Context, t *rewind.APIToken, envs map[int64]string) string {
	var parts []string
	if t.Service() {
		parts = append(parts, "role "+RolesText(ctx, t.Role, t.EnvRoles, envs))
	} else {
		parts = append(parts, "as "+t.Username)
	}
	if t.ReadOnly {
		parts = append(parts, "read-only")
	}
	if len(t.Environments) > 0 {
		var names []string
		for _, id := range t.Environments {
			names = append(names, envs[id])
		}
		parts = append(parts, "in "+strings.Join(names, ", "))
	}
	return strings.Join(parts, " · ")
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Local().Format("2006-01-02 15:04")
}
