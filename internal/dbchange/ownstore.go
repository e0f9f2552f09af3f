package dbchange

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlchange"
)

// refuseOwnData refuses a SQLite connection string that names Rewind's own
// data: its store (and the store's -wal, -shm and -journal files), its keys,
// or any other file in or under Options.DataDir, existing or not (SQLite
// would create it there). The file is compared after making it absolute and
// resolving symlinks the way the operating system would open it, and, when
// it exists, by device and inode with every file in the data folder, so a
// hard link or a bind mount of the store is refused too. Other engines and
// in-memory databases pass.
func (s *Service) refuseOwnData(engine, dsn string) error {
	if sqlchange.Engine(engine) != sqlchange.SQLite || s.opt.DataDir == "" {
		return nil
	}
	file := sqliteDSNFile(dsn)
	if file == "" {
		return nil
	}
	refused := rewind.Errorf(rewind.EINVALID, "This SQLite file is Rewind's own data (its store, keys or data folder %s); "+
		"Rewind may not change it through a SQL change. Register a database of your own.", s.opt.DataDir)
	dataDir, err := resolvePath(s.opt.DataDir)
	if err != nil {
		return rewind.Errorf(rewind.EINTERNAL, "resolve data folder %s: %v", s.opt.DataDir, err)
	}
	path, err := resolvePath(file)
	if err != nil {
		return rewind.Errorf(rewind.EINVALID, "Bad connection string: cannot resolve the SQLite file %s: %v.", file, err)
	}
	if within(dataDir, path) {
		return refused
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil // a new file outside the data folder
	}
	same := false
	_ = filepath.WalkDir(dataDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // what cannot be read cannot be opened through it either
		}
		if other, err := os.Stat(p); err == nil && os.SameFile(fi, other) {
			same = true
			return filepath.SkipAll
		}
		return nil
	})
	if same {
		return refused
	}
	return nil
}

// within says whether path is dir or lies under it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && (rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))))
}

// sqliteDSNFile returns the file a SQLite connection string (a path, or a
// file: URI, with query parameters) names, or "" for an in-memory database.
func sqliteDSNFile(dsn string) string {
	path, query, _ := strings.Cut(dsn, "?")
	uri := strings.HasPrefix(path, "file:")
	path = strings.TrimPrefix(path, "file:")
	if strings.Contains(query, "mode=memory") || path == "" || path == ":memory:" {
		return ""
	}
	if uri {
		// file://localhost/path and file:///path name /path.
		if rest, ok := strings.CutPrefix(path, "//"); ok {
			host, p, _ := strings.Cut(rest, "/")
			if host != "" && host != "localhost" {
				return rest // not a local file; resolving it fails or stays outside
			}
			path = "/" + p
		}
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
	}
	return path
}

// resolvePath makes path absolute and resolves its symlinks component by
// component, as the operating system does when opening it: ".." applies to
// the resolved directory. The part that does not exist yet is kept as
// written (cleaned).
func resolvePath(path string) (string, error) {
	abs := path
	if !filepath.IsAbs(abs) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		abs = wd + string(filepath.Separator) + path
	}
	cur := string(filepath.Separator)
	parts := strings.Split(abs, string(filepath.Separator))
	for i, part := range parts {
		switch part {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, part)
		if _, err := os.Lstat(next); err != nil {
			return filepath.Join(append([]string{cur}, parts[i:]...)...), nil
		}
		resolved, err := filepath.EvalSymlinks(next)
		if err != nil {
			return "", err
		}
		cur = resolved
	}
	return cur, nil
}
