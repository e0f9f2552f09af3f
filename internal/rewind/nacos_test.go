package rewind

import (
	"fmt"
	"strings"
	"testing"
)

func TestConfigRestorePayload(t *testing.T) {
	tests := []struct {
		action  string
		wantErr bool
	}{
		{ConfigPublish, false},
		{ConfigDelete, false},
		{"drop", true},
		{"", true},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			payload, err := ConfigRestore{Action: tt.action}.Encode()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Encode error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			got, err := ParseConfigRestore(payload)
			if err != nil || got.Action != tt.action {
				t.Errorf("ParseConfigRestore(%q) = %+v, %v", payload, got, err)
			}
		})
	}
	if _, err := ParseConfigRestore(`{"action":"drop"}`); err == nil {
		t.Errorf("an unknown action was accepted")
	}
}

func TestNormalizeNacosServer(t *testing.T) {
	n := NacosServer{Name: " prod ", Addr: " http://h:8848/ ", Namespaces: []string{"", "shop", "shop", " public"}, MaskKeys: []string{" Passwd ", ""}}
	NormalizeNacosServer(&n)
	if got, want := fmt.Sprint(n.Name, "|", n.Addr, "|", n.Namespaces, "|", n.MaskKeys), "prod|http://h:8848|[public shop]|[passwd]"; got != want {
		t.Errorf("normalized = %q, want %q", got, want)
	}
	n.Password = "hunter2"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, n); strings.Contains(got, "hunter2") {
			t.Errorf("Sprintf(%s) shows the password: %q", verb, got)
		}
	}
}
