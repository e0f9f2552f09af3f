package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestToolVersionsMatchBuildScripts checks that each tool's build.sh builds
// the version Tool looks for, and that its go.mod pins it.
func TestToolVersionsMatchBuildScripts(t *testing.T) {
	for name, version := range tools {
		script, err := os.ReadFile(filepath.Join("tools", name, "build.sh"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^` + strings.ToUpper(name) + `_VERSION=(\S+)`).FindSubmatch(script)
		if m == nil || string(m[1]) != version {
			t.Errorf("tools/%s/build.sh builds %q, testenv looks for %s", name, m, version)
		}
		mod, err := os.ReadFile(filepath.Join("tools", name, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(mod), " "+version) {
			t.Errorf("tools/%s/go.mod does not pin %s", name, version)
		}
	}
}
