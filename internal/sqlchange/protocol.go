package sqlchange

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Statement boundaries are the server's. Every text that holds the
// operator's SQL (the statement itself, the SELECT that saves its rows,
// EXPLAIN) is sent so that the server refuses a second command in it:
//
//   - PostgreSQL: the extended protocol (Parse/Bind/Execute), which takes
//     one command per message. pgx's Exec without arguments silently uses
//     the simple protocol, which runs every command of a string, so Rewind
//     calls pgconn.ExecParams itself, and queries run in
//     pgx.QueryExecModeExec.
//   - MySQL/MariaDB: the connection never sets CLIENT_MULTI_STATEMENTS
//     (multiStatements is forced off in Open), so the server refuses a
//     second statement in COM_QUERY with a syntax error.
//   - SQLite: the driver runs every statement of a string, so before each
//     statement runs Rewind prepares it with sqlite3_prepare_v2 on the same
//     connection and refuses it when the prepared statement leaves a tail
//     that holds another statement.

// ErrSecondStatement: the server read more than one statement in a text
// that Rewind read as one.
var ErrSecondStatement = errors.New("the database reads a second statement here, which Rewind does not run")

// pgConn calls f with the pgconn of a PostgreSQL connection.
func pgConn(conn *sql.Conn, f func(pc *pgconn.PgConn) error) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection: %T", dc)
		}
		return f(c.Conn().PgConn())
	})
}

// pgExec runs one statement with the extended protocol and returns the
// rows it affected.
func pgExec(ctx context.Context, conn *sql.Conn, q string) (int64, error) {
	var n int64
	err := pgConn(conn, func(pc *pgconn.PgConn) error {
		rr := pc.ExecParams(ctx, q, nil, nil, nil, nil)
		for rr.NextRow() {
		}
		tag, err := rr.Close()
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// execUser runs text that holds the operator's SQL and returns its result.
func (r *run) execUser(ctx context.Context, q string) (affected, lastID int64, hasLastID bool, err error) {
	switch r.d.engine {
	case Postgres:
		affected, err = pgExec(ctx, r.conn, q)
		return affected, 0, false, err
	case SQLite:
		if err := r.sqliteOne(ctx, q); err != nil {
			return 0, 0, false, err
		}
	}
	res, err := r.conn.ExecContext(ctx, q)
	if err != nil {
		return 0, 0, false, err
	}
	affected, _ = res.RowsAffected()
	id, idErr := res.LastInsertId()
	return affected, id, idErr == nil, nil
}

// queryUser runs text that holds the operator's SQL and returns its rows.
func (r *run) queryUser(ctx context.Context, q string) (*sql.Rows, error) {
	switch r.d.engine {
	case Postgres:
		return r.conn.QueryContext(ctx, q, pgx.QueryExecModeExec)
	case SQLite:
		if err := r.sqliteOne(ctx, q); err != nil {
			return nil, err
		}
	}
	return r.conn.QueryContext(ctx, q)
}

// sqliteOne prepares q on the run's connection, without running it, and
// refuses it when SQLite reads more than one statement in it.
func (r *run) sqliteOne(ctx context.Context, q string) error {
	_, err := sqlitePrepare(ctx, r.conn, q)
	return err
}

// sqlitePrepare compiles q with sqlite3_prepare_v2 on conn and finalizes it
// without a step, so nothing runs. It fails when q holds more than one
// statement (the tail holds another one) or does not compile; readOnly
// says what sqlite3_stmt_readonly says of it.
func sqlitePrepare(ctx context.Context, conn *sql.Conn, q string) (readOnly bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	err = conn.Raw(func(dc any) error {
		db, tls, err := sqliteHandle(dc)
		if err != nil {
			return err
		}
		zSQL, err := libc.CString(q)
		if err != nil {
			return err
		}
		defer libc.Xfree(tls, zSQL)
		ptrs := libc.Xmalloc(tls, 2*8)
		if ptrs == 0 {
			return errors.New("out of memory")
		}
		defer libc.Xfree(tls, ptrs)
		ppStmt, pzTail := ptrs, ptrs+8
		compile := func(from uintptr) (stmt, tail uintptr, err error) {
			if rc := sqlite3.Xsqlite3_prepare_v2(tls, db, from, -1, ppStmt, pzTail); rc != sqlite3.SQLITE_OK {
				return 0, 0, fmt.Errorf("%s (SQLite code %d)", libc.GoString(sqlite3.Xsqlite3_errmsg(tls, db)), rc)
			}
			return readPointer(ppStmt), readPointer(pzTail), nil
		}
		stmt, tail, err := compile(zSQL)
		if err != nil {
			return err
		}
		readOnly = stmt != 0 && sqlite3.Xsqlite3_stmt_readonly(tls, stmt) != 0
		sqlite3.Xsqlite3_finalize(tls, stmt)
		if stmt == 0 {
			return errors.New("no statement")
		}
		// The tail may hold only white space and comments.
		for libc.GoString(tail) != "" {
			next, rest, err := compile(tail)
			if err != nil || next != 0 {
				sqlite3.Xsqlite3_finalize(tls, next)
				return ErrSecondStatement
			}
			if rest == tail {
				break
			}
			tail = rest
		}
		return nil
	})
	return readOnly, err
}

// readPointer reads the pointer that C memory at p holds.
func readPointer(p uintptr) uintptr {
	return uintptr(binary.NativeEndian.Uint64(libc.GoBytes(p, 8)))
}

// sqliteHandle returns the sqlite3 handle and the TLS of a modernc.org/sqlite
// driver connection. The driver does not export them; if its fields change,
// this fails and so does every statement, rather than running unchecked.
func sqliteHandle(dc any) (uintptr, *libc.TLS, error) {
	v := reflect.ValueOf(dc)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return 0, nil, fmt.Errorf("unexpected SQLite connection %T", dc)
	}
	v = v.Elem()
	dbField, tlsField := v.FieldByName("db"), v.FieldByName("tls")
	if !dbField.IsValid() || dbField.Kind() != reflect.Uintptr || !tlsField.IsValid() || tlsField.Type() != reflect.TypeFor[*libc.TLS]() {
		return 0, nil, fmt.Errorf("cannot reach the SQLite handle of %T to check statement boundaries", dc)
	}
	tls := reflect.NewAt(tlsField.Type(), unsafe.Pointer(tlsField.UnsafeAddr())).Elem().Interface().(*libc.TLS)
	return uintptr(dbField.Uint()), tls, nil
}
