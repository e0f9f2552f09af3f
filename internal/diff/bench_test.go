package diff

import (
	"fmt"
	"strings"
	"testing"
)

// podTemplateYAML writes a YAML text of about n lines shaped like a pod
// template; changed marks the containers whose image tag moves.
func podTemplateYAML(n int, changed func(i int) bool) string {
	var b strings.Builder
	b.WriteString("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n")
	for i, lines := 0, 6; lines < n; i, lines = i+1, lines+5 {
		tag := "1.25.3"
		if changed(i) {
			tag = "1.26.0"
		}
		fmt.Fprintf(&b, "      - name: app-%d\n        image: registry.example.com/team/app-%d:%s\n        env:\n        - name: LOG_LEVEL\n          value: info\n", i, i, tag)
	}
	return b.String()
}

func BenchmarkCompute(b *testing.B) {
	// 5,000 lines with 100 scattered changes: every 10th of ~1,000
	// containers gets a new image tag.
	old5k := podTemplateYAML(5000, func(int) bool { return false })
	new5k := podTemplateYAML(5000, func(i int) bool { return i%10 == 3 })

	// Just under 1 MiB per version: 15,500 lines of 67 bytes, every 100th line
	// changed.
	var ob, nb strings.Builder
	for i := range 15500 {
		line := fmt.Sprintf("key.%06d = value %06d %s", i, i, strings.Repeat("x", 40))
		fmt.Fprintln(&ob, line)
		if i%100 == 50 {
			line = strings.Replace(line, "value", "VALUE", 1)
		}
		fmt.Fprintln(&nb, line)
	}
	old1m, new1m := ob.String(), nb.String()

	// One minified 512 KiB line changed in two far places.
	line := strings.Repeat(`{"k":"v","n":12345},`, 1<<15)
	oldLong := line + "\n"
	newLong := "[" + line[1:len(line)-1] + "]\n"

	// 20,000 lines, every one changed a little.
	var rb, wb strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&rb, "key%d: value-%d-old\n", i, i)
		fmt.Fprintf(&wb, "key%d: value-%d-new\n", i, i)
	}
	oldAll, newAll := rb.String(), wb.String()

	cases := []struct {
		name     string
		old, new string
	}{
		{"yaml5000lines100changes", old5k, new5k},
		{"1MiB", old1m, new1m},
		{"longLine512KiB", oldLong, newLong},
		{"allOf20000LinesChanged", oldAll, newAll},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.old) + len(c.new)))
			b.ReportAllocs()
			var r *Result
			for b.Loop() {
				r = Compute(c.old, c.new, DefaultOptions())
			}
			if r.TooLarge || r.Identical || r.Stats.Added == 0 {
				b.Fatalf("unexpected result: TooLarge=%v Identical=%v Stats=%+v", r.TooLarge, r.Identical, r.Stats)
			}
		})
	}
}
