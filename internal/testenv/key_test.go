package testenv

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// TestCacheKeyMatchesBuildScript checks that the cache folder the package
// looks in is the one kube/build.sh fills.
func TestCacheKeyMatchesBuildScript(t *testing.T) {
	script, err := os.ReadFile("kube/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]string{}
	for _, name := range []string{"K8S_VERSION", "ETCD_VERSION", "KWOK_VERSION"} {
		m := regexp.MustCompile(`(?m)^` + name + `=(\S+)`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("no %s= in kube/build.sh", name)
		}
		v[name] = string(m[1])
	}
	key := fmt.Sprintf("k8s-%s-etcd-%s-kwok-%s", v["K8S_VERSION"], v["ETCD_VERSION"], v["KWOK_VERSION"])
	if got := cacheKey; got != key {
		t.Fatalf("testenv cache key %q, build.sh builds %q", got, key)
	}
}
