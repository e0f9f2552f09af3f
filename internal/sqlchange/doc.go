// Package sqlchange is Rewind's adapter for SQL targets: databases on
// MySQL/MariaDB, PostgreSQL and SQLite. It opens and pings a registered
// database, splits a SQL change into statements, previews it without
// running any of it, executes it (in one transaction when every statement
// is provably transactional on that engine, otherwise one by one) while
// saving the rows each UPDATE and DELETE touches and the keys each INSERT
// adds, generates rollback SQL from those saved rows, and verifies after a
// rollback that the rows are back.
//
// # Nothing runs before approval
//
// A preview only lets the engine parse and plan: PostgreSQL plans with
// EXPLAIN (never ANALYZE) in a READ ONLY transaction, or only parses (a
// Parse message) what calls functions defined in the database, whose
// immutable ones the planner would fold; MariaDB/MySQL prepare on the
// server, and only statements whose every function is a pure built-in
// (MariaDB folds stored functions and LOAD_FILE while preparing); SQLite
// compiles with sqlite3_prepare_v2. Engine messages are passed through only
// for errors about the statement's text and the schema, since others can
// carry data. Statement boundaries are the server's: PostgreSQL gets the
// extended protocol, MySQL never has multi-statements, SQLite's prepare
// tail is checked; settings that change how the server reads SQL are
// refused, pinned for the session and read again after every statement.
// docs/sql-safety.md holds the whole argument and the tested classes.
//
// # No SQL parser
//
// Statements are read by this package's own lexer, one per engine: it knows
// the engine's quotes and escapes, comments, PostgreSQL dollar quoting,
// routine and trigger bodies (BEGIN ... END) and MySQL's DELIMITER. On its
// tokens a small reader classifies each statement (SELECT, INSERT, UPDATE,
// DELETE, DDL, other) and, for a single-table UPDATE or DELETE, takes the
// table reference, the WHERE condition and MySQL's ORDER BY/LIMIT exactly
// as written, to read the same rows with SELECT ... FOR UPDATE.
//
// A real parser, such as TiDB's for MySQL, was weighed and left out: it
// covers one dialect of three (and not all of MariaDB's), would still need
// PostgreSQL and SQLite counterparts, and adds a large dependency, while
// saving rows only needs the clause boundaries at parenthesis depth zero,
// which tokens give reliably. The reader is conservative instead: whatever
// it does not fully understand (joins, USING, FROM in an UPDATE, WITH,
// LIMIT without ORDER BY, changes to key columns, REPLACE, upserts) runs
// with the note "rows not saved: reason" rather than with a guessed image.
// And after each UPDATE or DELETE the rows it reports are checked against
// the rows saved (ErrSavedRowsMismatch), so a wrong reading cannot pass
// silently.
package sqlchange
