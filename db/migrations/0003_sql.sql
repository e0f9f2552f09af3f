-- SQL databases and the record of SQL changes run on them.

-- A registered database. Its connection string may hold a password, so it is
-- stored encrypted (dsn_enc) and never shown again.
CREATE TABLE databases (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    environment_id INTEGER NOT NULL REFERENCES environments (id),
    engine         TEXT NOT NULL CHECK (engine IN ('mysql', 'postgres', 'sqlite')),
    dsn_enc        BLOB NOT NULL,
    from_config    INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);

-- One run of a SQL change or rollback: the version of the database target it
-- made, how it ran, the saved rows (gzip-compressed JSON) with the first of
-- them ready to show (saved_tables, JSON) and the rollback generated from
-- them; for a rollback, the check of the rows afterwards.
CREATE TABLE sql_executions (
    version_id               INTEGER PRIMARY KEY REFERENCES versions (id),
    request_id               INTEGER NOT NULL UNIQUE REFERENCES rollback_requests (id),
    kind                     TEXT NOT NULL CHECK (kind IN ('change', 'rollback')),
    of_version_id            INTEGER REFERENCES versions (id),
    succeeded                INTEGER NOT NULL,
    applied                  INTEGER NOT NULL,
    transactional            INTEGER NOT NULL,
    not_transactional_reason TEXT NOT NULL DEFAULT '',
    saving_skipped           INTEGER NOT NULL DEFAULT 0,
    rows_affected            INTEGER NOT NULL DEFAULT 0,
    statement_count          INTEGER NOT NULL,
    saved                    BLOB,
    saved_rows               INTEGER NOT NULL DEFAULT 0,
    saved_tables             TEXT NOT NULL DEFAULT '',
    rollback_sql             TEXT NOT NULL DEFAULT '',
    rollback_note            TEXT NOT NULL DEFAULT '',
    verified                 INTEGER NOT NULL DEFAULT 0,
    verify_ok                INTEGER NOT NULL DEFAULT 0,
    verify_report            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sql_executions_of_version ON sql_executions (of_version_id);

-- What each statement of an execution did. result holds the first rows a
-- statement returned, as JSON.
CREATE TABLE sql_statements (
    version_id    INTEGER NOT NULL REFERENCES sql_executions (version_id),
    idx           INTEGER NOT NULL,
    sql           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    rows_affected INTEGER NOT NULL DEFAULT 0,
    duration_us   INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    timed_out     INTEGER NOT NULL DEFAULT 0,
    note          TEXT NOT NULL DEFAULT '',
    result        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (version_id, idx)
) WITHOUT ROWID;
