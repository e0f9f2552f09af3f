// Package static holds Rewind's stylesheets, scripts and the vendored htmx, and
// serves them under content-hash URLs so browsers may cache them forever.
//
// Pages link a file by its short name: static.URL("app.css") gives
// "/static/app.3f2a9c1b.css". A new build with a changed file gives a new URL,
// so no browser ever sees a stale copy.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the URL path under which Handler serves the files.
const Prefix = "/static/"

//go:embed css/*.css img/*.svg app.js vendor/htmx.min.js
var files embed.FS

// asset is one embedded file ready to serve.
type asset struct {
	url         string
	contentType string
	body        []byte
}

// catalog indexes the files by short name ("app.css") and by hashed URL path.
type catalog struct {
	byName map[string]*asset
	byPath map[string]*asset
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// assets is computed once: the embedded files are fixed at build time, so a
// failure here is a build mistake, caught by this package's tests.
var assets = func() *catalog {
	c, err := newCatalog(files)
	if err != nil {
		panic(fmt.Sprintf("static: %v", err))
	}
	return c
}()

// newCatalog hashes every file in fsys and indexes it.
func newCatalog(fsys fs.FS) (*catalog, error) {
	c := &catalog{byName: map[string]*asset{}, byPath: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", name, err)
		}
		if d.IsDir() {
			return nil
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		short := path.Base(name)
		if _, dup := c.byName[short]; dup {
			return fmt.Errorf("two files are named %s", short)
		}
		ext := path.Ext(short)
		contentType, ok := contentTypes[ext]
		if !ok {
			return fmt.Errorf("%s: no content type for %q", name, ext)
		}
		a := &asset{
			url:         Prefix + hashedName(short, body),
			contentType: contentType,
			body:        body,
		}
		c.byName[short] = a
		c.byPath[a.url] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index static files: %w", err)
	}
	return c, nil
}

// hashedName puts the first 8 hex digits of the content's SHA-256 before the
// extension: "htmx.min.js" becomes "htmx.min.0a1b2c3d.js".
func hashedName(name string, body []byte) string {
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:4]) + ext
}

// URL returns the content-hash URL of the embedded file with the given short
// name, such as "app.css", "diff.css", "app.js" or "htmx.min.js". For a name
// that is not embedded it returns Prefix+name, which Handler answers with 404,
// so a typo shows as a missing file rather than a broken page.
func URL(name string) string {
	if a, ok := assets.byName[name]; ok {
		return a.url
	}
	return Prefix + name
}

// Handler serves the embedded files at their content-hash URLs (the full
// request path, Prefix included) with a one-year immutable cache lifetime.
// Any other path is 404; methods other than GET and HEAD are 405.
func Handler() http.Handler {
	return assets
}

// ServeHTTP serves one file of the catalog by its hashed URL path.
func (c *catalog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := c.byPath[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+strings.TrimPrefix(a.url, Prefix)+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
