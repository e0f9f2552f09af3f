package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestURL(t *testing.T) {
	tests := []struct {
		name string
		file string // path inside the embedded FS
		ext  string
	}{
		{name: "app.css", file: "css/app.css", ext: "css"},
		{name: "app.js", file: "app.js", ext: "js"},
		{name: "htmx.min.js", file: "vendor/htmx.min.js", ext: "js"},
		{name: "favicon.svg", file: "img/favicon.svg", ext: "svg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := fs.ReadFile(files, tt.file)
			if err != nil {
				t.Fatalf("read embedded %s: %v", tt.file, err)
			}
			sum := sha256.Sum256(body)
			base := strings.TrimSuffix(tt.name, "."+tt.ext)
			want := Prefix + base + "." + hex.EncodeToString(sum[:4]) + "." + tt.ext

			if got := URL(tt.name); got != want {
				t.Errorf("URL(%q) = %q, want %q", tt.name, got, want)
			}
		})
	}
}

func TestURLUnknownName(t *testing.T) {
	if got, want := URL("nope.css"), "/static/nope.css"; got != want {
		t.Errorf("URL(unknown) = %q, want %q", got, want)
	}
}

func TestHashedURLsAreUnique(t *testing.T) {
	pattern := regexp.MustCompile(`^/static/[a-z.]+\.[0-9a-f]{8}\.(css|js|svg)$`)
	seen := map[string]string{}
	for name, a := range assets.byName {
		if !pattern.MatchString(a.url) {
			t.Errorf("%s: URL %q does not look like /static/<name>.<hash>.<ext>", name, a.url)
		}
		if other, dup := seen[a.url]; dup {
			t.Errorf("%s and %s share URL %q", name, other, a.url)
		}
		seen[a.url] = name
	}
}

func TestHashedName(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		// sha256("") starts e3b0c442; sha256("a") starts ca978112.
		{name: "app.css", body: "", want: "app.e3b0c442.css"},
		{name: "htmx.min.js", body: "a", want: "htmx.min.ca978112.js"},
		{name: "noext", body: "a", want: "noext.ca978112"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hashedName(tt.name, []byte(tt.body)); got != tt.want {
				t.Errorf("hashedName(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestNewCatalogRejects(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{
			name: "same short name twice",
			fsys: fstest.MapFS{
				"css/app.css":    {Data: []byte("a{}")},
				"vendor/app.css": {Data: []byte("b{}")},
			},
		},
		{
			name: "unknown extension",
			fsys: fstest.MapFS{"data.bin": {Data: []byte{0}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newCatalog(tt.fsys); err == nil {
				t.Error("newCatalog: got nil error, want one")
			}
		})
	}
}

func TestHandler(t *testing.T) {
	css := URL("app.css")
	js := URL("htmx.min.js")
	svg := URL("favicon.svg")
	cssBody, err := fs.ReadFile(files, "css/app.css")
	if err != nil {
		t.Fatalf("read app.css: %v", err)
	}

	tests := []struct {
		name        string
		method      string
		path        string
		header      http.Header
		wantStatus  int
		wantType    string
		wantCaching bool
		wantBody    string // checked when not empty
	}{
		{name: "css", method: http.MethodGet, path: css, wantStatus: http.StatusOK,
			wantType: "text/css; charset=utf-8", wantCaching: true, wantBody: string(cssBody)},
		{name: "js", method: http.MethodGet, path: js, wantStatus: http.StatusOK,
			wantType: "text/javascript; charset=utf-8", wantCaching: true},
		{name: "svg", method: http.MethodGet, path: svg, wantStatus: http.StatusOK,
			wantType: "image/svg+xml", wantCaching: true},
		{name: "head", method: http.MethodHead, path: css, wantStatus: http.StatusOK,
			wantType: "text/css; charset=utf-8", wantCaching: true},
		{name: "revalidation", method: http.MethodGet, path: css,
			header:     http.Header{"If-None-Match": {`"` + strings.TrimPrefix(css, Prefix) + `"`}},
			wantStatus: http.StatusNotModified, wantCaching: true},
		{name: "unhashed name", method: http.MethodGet, path: "/static/app.css", wantStatus: http.StatusNotFound},
		{name: "stale hash", method: http.MethodGet, path: "/static/app.00000000.css", wantStatus: http.StatusNotFound},
		{name: "embedded path", method: http.MethodGet, path: "/static/css/app.css", wantStatus: http.StatusNotFound},
		{name: "outside prefix", method: http.MethodGet, path: strings.TrimPrefix(css, "/static"), wantStatus: http.StatusNotFound},
		{name: "traversal", method: http.MethodGet, path: "/static/../static.go", wantStatus: http.StatusNotFound},
		{name: "post", method: http.MethodPost, path: css, wantStatus: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://rewind.test"+tt.path, nil)
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			rec := httptest.NewRecorder()
			Handler().ServeHTTP(rec, req)
			res := rec.Result()
			defer res.Body.Close()

			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if tt.wantType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
				if got, want := res.Header.Get("X-Content-Type-Options"), "nosniff"; got != want {
					t.Errorf("X-Content-Type-Options = %q, want %q", got, want)
				}
			}
			gotCaching := res.Header.Get("Cache-Control") == "public, max-age=31536000, immutable"
			if gotCaching != tt.wantCaching {
				t.Errorf("Cache-Control = %q, want immutable: %v", res.Header.Get("Cache-Control"), tt.wantCaching)
			}
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if tt.method == http.MethodHead && len(body) != 0 {
				t.Errorf("HEAD body has %d bytes, want 0", len(body))
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body differs from the embedded file (%d bytes, want %d)", len(body), len(tt.wantBody))
			}
		})
	}
}

func TestVendoredHTMXMatchesPin(t *testing.T) {
	script, err := os.ReadFile("vendor/update.sh")
	if err != nil {
		t.Fatalf("read update.sh: %v", err)
	}
	m := regexp.MustCompile(`(?m)^HTMX_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("update.sh has no HTMX_VERSION= line")
	}
	pinned := string(m[1])
	if !strings.HasPrefix(pinned, "2.0.") {
		t.Errorf("pinned htmx %s, want a 2.0.x release", pinned)
	}
	htmx, err := fs.ReadFile(files, "vendor/htmx.min.js")
	if err != nil {
		t.Fatalf("read htmx: %v", err)
	}
	if want := `version:"` + pinned + `"`; !strings.Contains(string(htmx), want) {
		t.Errorf("vendor/htmx.min.js lacks %s: run static/vendor/update.sh", want)
	}
}

func BenchmarkHandler(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, URL("htmx.min.js"), nil)
	h := Handler()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status = %d", rec.Code)
		}
	}
}
