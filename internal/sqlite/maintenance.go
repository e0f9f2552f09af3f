package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rewindhq/rewind/db"
)

// DamagedError says that a store file failed its integrity check: SQLite
// found broken pages or indexes, or the file is no SQLite database at all.
type DamagedError struct {
	Path     string
	Problems []string // what the check reported, at most a few lines
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("store %s is damaged: %s", e.Path, strings.Join(e.Problems, "; "))
}

// SealedError says that a store's sealed credentials do not open: there is
// no key (NoKey), or they were sealed with another.
type SealedError struct {
	Table, Column string
	NoKey         bool
}

func (e *SealedError) Error() string {
	if e.NoKey {
		return fmt.Sprintf("%s.%s holds sealed credentials, but there is no key to open them", e.Table, e.Column)
	}
	return fmt.Sprintf("%s.%s: a sealed credential does not open with this key", e.Table, e.Column)
}

// damaged turns an error of SQLite that means "this file is broken" into a
// *DamagedError; other errors pass unchanged.
func damaged(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		if code := se.Code() & 0xff; code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB {
			return &DamagedError{Path: path, Problems: []string{se.Error()}}
		}
	}
	return err
}

// openDB opens the SQLite file at path with the store's settings. With
// create false the file must exist.
func openDB(ctx context.Context, path string, create bool) (*sql.DB, error) {
	q := urlValues()
	if !create {
		q.Set("mode", "rw")
	}
	sqlDB, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(4)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open store %s: %w", path, damaged(path, err))
	}
	return sqlDB, nil
}

// OpenExisting opens the store at path for upkeep (backup, checks,
// retention) without applying migrations, so that a Rewind of another
// version never changes its schema. The file must exist.
func OpenExisting(ctx context.Context, path string, box Sealer) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	sqlDB, err := openDB(ctx, path, false)
	if err != nil {
		return nil, err
	}
	s := newStore(sqlDB, box, db.SQLite)
	s.path = path
	return s, nil
}

// QuickCheck runs SQLite's quick integrity check (pages, records and
// b-trees, not index contents), fast enough for every start. A damaged
// store gives a *DamagedError.
func (s *Store) QuickCheck(ctx context.Context) error {
	return s.check(ctx, `PRAGMA quick_check(10)`)
}

// IntegrityCheck runs SQLite's full integrity check, which also compares
// every index with its table, and checks that every foreign key points to
// a row. A damaged store gives a *DamagedError.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if err := s.check(ctx, `PRAGMA integrity_check(10)`); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return damaged(s.path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() && len(problems) < 10 {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		problems = append(problems, fmt.Sprintf("row %d of %s refers to a missing row of %s", rowid.Int64, table, parent))
	}
	if err := rows.Err(); err != nil {
		return damaged(s.path, err)
	}
	if len(problems) > 0 {
		return &DamagedError{Path: s.path, Problems: problems}
	}
	return nil
}

func (s *Store) check(ctx context.Context, pragma string) error {
	rows, err := s.db.QueryContext(ctx, pragma)
	if err != nil {
		return damaged(s.path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return damaged(s.path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return damaged(s.path, err)
	}
	if len(problems) > 0 {
		return &DamagedError{Path: s.path, Problems: problems}
	}
	return nil
}

// SchemaVersion returns the number of the newest migration applied to the
// store (0 for an empty store).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var have int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM schema_migrations`).Scan(&have)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	if err != nil {
		return 0, damaged(s.path, err)
	}
	return have, nil
}

// Size returns how many bytes the store takes on disk: its file and its
// write-ahead log, or on PostgreSQL its database.
func (s *Store) Size(ctx context.Context) (int64, error) {
	if s.engine == db.Postgres {
		var n int64
		err := s.db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		return n, err
	}
	var total int64
	for _, p := range []string{s.path, s.path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

// CheckSealed opens every sealed credential in the store (every non-empty
// value of a column whose name ends in _enc) with the store's key, and
// returns how many it opened. It fails on the first that does not open:
// the store was sealed with another key.
func (s *Store) CheckSealed(ctx context.Context) (int, error) {
	tables, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return 0, damaged(s.path, err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			tables.Close()
			return 0, err
		}
		names = append(names, n)
	}
	tables.Close()
	opened := 0
	for _, table := range names {
		cols, err := s.sealedColumns(ctx, table)
		if err != nil {
			return opened, err
		}
		for _, col := range cols {
			n, err := s.openAll(ctx, table, col)
			opened += n
			if err != nil {
				return opened, err
			}
		}
	}
	return opened, nil
}

func (s *Store) sealedColumns(ctx context.Context, table string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, damaged(s.path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		if strings.HasSuffix(c, "_enc") {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// openAll opens every sealed value of table.col. Names come from the
// store's own schema (sqlite_master, table_info), quoted as identifiers.
func (s *Store) openAll(ctx context.Context, table, col string) (int, error) {
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL AND length(%s) > 0`, quoteIdent(col), quoteIdent(table), quoteIdent(col), quoteIdent(col))
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return 0, damaged(s.path, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var sealed []byte
		if err := rows.Scan(&sealed); err != nil {
			return n, err
		}
		if s.box == nil {
			return n, &SealedError{Table: table, Column: col, NoKey: true}
		}
		if _, err := s.box.Open(sealed); err != nil {
			return n, &SealedError{Table: table, Column: col}
		}
		n++
	}
	return n, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// BackupInfo describes a backup just made or checked.
type BackupInfo struct {
	Path          string
	Bytes         int64
	SchemaVersion int
}

// Backup writes a consistent copy of the store to dest while Rewind keeps
// running: SQLite's VACUUM INTO copies one snapshot of the store (writers
// go on meanwhile) into a temporary file beside dest, which is checked,
// synced and then renamed to dest (mode 0600: it holds password hashes and
// sealed credentials). An existing dest is refused.
func (s *Store) Backup(ctx context.Context, dest string) (BackupInfo, error) {
	dest, err := filepath.Abs(dest)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := os.Stat(dest); err == nil {
		return BackupInfo{}, fmt.Errorf("backup %s: the file exists already; choose a new name", dest)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*.tmp")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath) // VACUUM INTO wants to create the file itself
	defer os.Remove(tmpPath)
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, tmpPath); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: copy the store: %w", damaged(s.path, err))
	}
	if err := os.Chmod(tmpPath, 0o600); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := CheckBackup(ctx, tmpPath, s.box)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: the copy does not pass its check: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmpPath, dest); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(filepath.Dir(dest)); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info.Path = dest
	return info, nil
}

// CheckBackup checks the store file at path as a backup to restore: its
// full integrity, its foreign keys, a schema this Rewind knows, and that its
// sealed credentials open with box's key (box nil: that it has none). Opening a
// SQLite file may write to it (as Restore's copy, which it checks); check a
// copy to keep a file exactly as it is.
func CheckBackup(ctx context.Context, path string, box Sealer) (BackupInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	if fi.Size() == 0 {
		return BackupInfo{}, &DamagedError{Path: path, Problems: []string{"the file is empty"}}
	}
	s, err := OpenExisting(ctx, path, box)
	if err != nil {
		return BackupInfo{}, err
	}
	defer s.Close()
	if err := s.IntegrityCheck(ctx); err != nil {
		return BackupInfo{}, err
	}
	version, err := s.SchemaVersion(ctx)
	if err != nil {
		return BackupInfo{}, err
	}
	if version == 0 {
		return BackupInfo{}, fmt.Errorf("%s is a SQLite database, but no Rewind store", path)
	}
	ms, err := db.Migrations()
	if err != nil {
		return BackupInfo{}, err
	}
	if version > len(ms) {
		return BackupInfo{}, &db.ErrNewerStore{Have: version, Know: len(ms)}
	}
	if _, err := s.CheckSealed(ctx); err != nil {
		return BackupInfo{}, err
	}
	return BackupInfo{Path: path, Bytes: fi.Size(), SchemaVersion: version}, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
