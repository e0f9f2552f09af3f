package i18n

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		header string
		want   Locale
	}{
		{"", English},
		{"zh-CN,zh;q=0.9,en;q=0.8", Chinese},
		{"en-US,en;q=0.9,zh-CN;q=0.8", English},
		{"zh", Chinese},
		{"zh-Hans-CN", Chinese},
		{"fr-FR,zh;q=0.5", Chinese},
		{"de, fr", English},
		{"en;q=0.1, zh-CN;q=0.7", Chinese},
		{"zh-CN;q=0", English},
		{"zh-CN;q=abc", English},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got := Negotiate(tt.header); got != tt.want {
				t.Errorf("Negotiate(%q) = %s, want %s", tt.header, got, tt.want)
			}
		})
	}
}

func TestTranslate(t *testing.T) {
	zh := WithLocale(context.Background(), Chinese)
	if got, want := T(zh, "Language"), "语言"; got != want {
		t.Errorf("T(zh) = %q, want %q", got, want)
	}
	if got, want := T(context.Background(), "Language"), "Language"; got != want {
		t.Errorf("T(en) = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		ctx  context.Context
		n    int
		want string
	}{
		{context.Background(), 1, "1 row"},
		{context.Background(), 2, "2 rows"},
		{context.Background(), 0, "0 rows"},
		{zh, 1, "1 行"},
		{zh, 5000, "5000 行"},
	} {
		if got := N(tt.ctx, tt.n, "%d row", tt.n); got != tt.want {
			t.Errorf("N(%s, %d) = %q, want %q", FromContext(tt.ctx), tt.n, got, tt.want)
		}
	}
}

func TestMissingInStrictMode(t *testing.T) {
	zh := WithLocale(context.Background(), Chinese)
	if got := T(zh, "No such message %s", "x"); got != "No such message x" {
		t.Errorf("lenient T = %q", got)
	}
	Strict(true)
	defer Strict(false)
	if got := T(zh, "No such message"); !strings.HasPrefix(got, MissingMark) {
		t.Errorf("strict T = %q, want the missing mark", got)
	}
}

func TestError(t *testing.T) {
	zh := For(Chinese)
	if got, want := zh.Error(fmt.Errorf("dial tcp 10.0.0.1: secret detail")), "内部错误。"; got != want {
		t.Errorf("internal error = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("context: %w", rewind.Errorf(rewind.EINVALID, "Internal error."))
	if got, want := zh.Error(wrapped), "内部错误。"; got != want {
		t.Errorf("rewind error = %q, want %q", got, want)
	}
	plain := &rewind.Error{Code: rewind.EINVALID, Message: "made without a format"}
	if got := zh.Error(plain); got != "made without a format" {
		t.Errorf("error without format = %q", got)
	}
}

func TestNumbersAndDates(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := For(Chinese).Number(n); got != want {
			t.Errorf("Number(%d) = %q, want %q", n, got, want)
		}
	}
	at := time.Date(2026, 12, 7, 15, 4, 0, 0, time.UTC)
	if got, want := For(English).Time(at), "7 Dec 2026 15:04"; got != want {
		t.Errorf("en Time = %q, want %q", got, want)
	}
	if got, want := For(Chinese).Time(at), "2026年12月7日 15:04"; got != want {
		t.Errorf("zh Time = %q, want %q", got, want)
	}
}
