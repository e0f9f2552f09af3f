package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// tools are the programs built for tests by tools/<name>/build.sh, with
// their pinned versions (which each build.sh must name, see
// TestToolVersionsMatchBuildScripts).
var tools = map[string]string{
	"helm": "v4.3.2",
}

// ToolsCache is the folder of the tools built for tests:
// $REWIND_TOOLS_CACHE, or ~/.cache/rewind-tools.
func ToolsCache() (string, error) {
	if dir := os.Getenv("REWIND_TOOLS_CACHE"); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("testenv: no tools cache folder (%v): set REWIND_TOOLS_CACHE", err)
	}
	return filepath.Join(home, ".cache", "rewind-tools"), nil
}

// Tool returns the path of a tool built for tests (see tools), at
// <ToolsCache>/<name>-<version>/bin/<name>. When it is missing the error
// says how to build it; tests then fail, never skip.
func Tool(name string) (string, error) {
	version, ok := tools[name]
	if !ok {
		known := make([]string, 0, len(tools))
		for n := range tools {
			known = append(known, n)
		}
		sort.Strings(known)
		return "", fmt.Errorf("testenv: no tool %q (known: %v)", name, known)
	}
	cache, err := ToolsCache()
	if err != nil {
		return "", err
	}
	path := filepath.Join(cache, name+"-"+version, "bin", name)
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("testenv: %s %s is missing at %s: run `make tools` (or internal/testenv/tools/%s/build.sh)", name, version, path, name)
	}
	return path, nil
}
