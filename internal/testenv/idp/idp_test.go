package idp

import (
	"os"
	"strings"
	"testing"
)

// The versions the tests look for are the ones build.sh builds.
func TestVersionsMatchBuildScripts(t *testing.T) {
	for tool, version := range map[string]string{"glauth": GLAuthVersion, "dex": DexVersion} {
		script, err := os.ReadFile("../tools/" + tool + "/build.sh")
		if err != nil {
			t.Fatal(err)
		}
		mod, err := os.ReadFile("../tools/" + tool + "/go.mod")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(script), " "+version) || !strings.Contains(string(mod), " "+version) {
			t.Errorf("%s: the tests look for %s, which build.sh or go.mod does not name", tool, version)
		}
	}
}
