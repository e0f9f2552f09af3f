-- Requests become plans of steps, and workflows and releases arrive.
--
-- A request (rollback or SQL change) now holds its environment, reason,
-- lifecycle and approvals; what it does to targets is its plan: ordered
-- steps, one target each. Every request made before holds one step.
-- Tables that others reference are rebuilt by SQLite's twelve-step
-- procedure (the migration runs with foreign keys off and checks them
-- before it commits).

-- Workflows and releases come first: requests refer to releases.

-- A named way of releasing a set of targets in one environment.
CREATE TABLE workflows (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    environment_id  INTEGER NOT NULL REFERENCES environments (id),
    description     TEXT NOT NULL DEFAULT '',
    -- Versions seen later than this after a release started are not its
    -- items but unreleased changes.
    release_timeout INTEGER NOT NULL DEFAULT 7200,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    deleted_at      TEXT
);
CREATE UNIQUE INDEX workflows_env_name ON workflows (environment_id, name) WHERE deleted_at IS NULL;

CREATE TABLE workflow_targets (
    workflow_id INTEGER NOT NULL REFERENCES workflows (id),
    target_id   INTEGER NOT NULL REFERENCES targets (id),
    PRIMARY KEY (workflow_id, target_id)
) WITHOUT ROWID;
CREATE INDEX workflow_targets_target ON workflow_targets (target_id);

-- One run of a workflow, numbered per workflow. state: open until the
-- pipeline finishes or fails it. A release made by rolling another back
-- names it (rollback_of) and the request that did it (request_id).
-- rolled_back_by is the request that rolled this release back. A blocked
-- release's name is refused by `rewind release check`.
CREATE TABLE releases (
    id             INTEGER PRIMARY KEY,
    workflow_id    INTEGER NOT NULL REFERENCES workflows (id),
    number         INTEGER NOT NULL,
    name           TEXT NOT NULL,
    commit_sha     TEXT NOT NULL DEFAULT '',
    url            TEXT NOT NULL DEFAULT '',
    started_by     TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    state          TEXT NOT NULL CHECK (state IN ('open', 'succeeded', 'failed')),
    note           TEXT NOT NULL DEFAULT '',
    rollback_of    INTEGER REFERENCES releases (id),
    request_id     INTEGER REFERENCES requests (id),
    rolled_back_by INTEGER REFERENCES requests (id),
    blocked_at     TEXT,
    blocked_by     TEXT NOT NULL DEFAULT '',
    block_reason   TEXT NOT NULL DEFAULT '',
    UNIQUE (workflow_id, number)
);
CREATE INDEX releases_workflow_name ON releases (workflow_id, name);

-- The versions a release produced; a version belongs to at most one
-- release. how: observed (seen between start and finish), named (by the
-- pipeline), annotation (rewind.dev/release on the pod template), attached
-- (a SQL change submitted with the release), rollback (made by the plan
-- that rolled another release back).
CREATE TABLE release_items (
    release_id INTEGER NOT NULL REFERENCES releases (id),
    version_id INTEGER NOT NULL UNIQUE REFERENCES versions (id),
    how        TEXT NOT NULL CHECK (how IN ('observed', 'named', 'annotation', 'attached', 'rollback')),
    PRIMARY KEY (release_id, version_id)
) WITHOUT ROWID;

-- The request: environment, lifecycle, approvals' policy. kind says a
-- rollback (of targets or of a release) from a SQL change. release_id: the
-- release a SQL change belongs to, or the release a rollback plan rolls
-- back; to_release_id: the earlier release that plan returns to (NULL: the
-- state before release_id). plan_hash fingerprints the steps; an approval
-- counts only for the plan it saw.
ALTER TABLE rollback_requests RENAME TO requests;

CREATE TABLE requests_new (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('rollback', 'change')),
    environment_id     INTEGER NOT NULL REFERENCES environments (id),
    release_id         INTEGER REFERENCES releases (id),
    to_release_id      INTEGER REFERENCES releases (id),
    state              TEXT NOT NULL,
    requester          TEXT NOT NULL,
    reason             TEXT NOT NULL,
    required_approvals INTEGER NOT NULL,
    plan_hash          TEXT NOT NULL DEFAULT '',
    outcome            TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT
);

-- One step of a plan: bring target_id to version_id (NULL for SQL, whose
-- statements are in payload), having seen base_version_id and, of the live
-- target, expected. state: waiting → running → succeeded | failed, or
-- skipped (note says why).
CREATE TABLE request_steps (
    id                INTEGER PRIMARY KEY,
    request_id        INTEGER NOT NULL REFERENCES requests (id),
    position          INTEGER NOT NULL,
    target_id         INTEGER NOT NULL REFERENCES targets (id),
    version_id        INTEGER REFERENCES versions (id),
    base_version_id   INTEGER REFERENCES versions (id),
    expected          TEXT NOT NULL DEFAULT '',
    payload           TEXT NOT NULL DEFAULT '',
    detail            TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'running', 'succeeded', 'failed', 'skipped')),
    outcome           TEXT NOT NULL DEFAULT '',
    note              TEXT NOT NULL DEFAULT '',
    result_version_id INTEGER REFERENCES versions (id),
    attempts          INTEGER NOT NULL DEFAULT 0,
    started_at        TEXT,
    finished_at       TEXT,
    UNIQUE (request_id, position)
);
CREATE INDEX request_steps_target ON request_steps (target_id, request_id);

INSERT INTO requests_new (id, kind, environment_id, state, requester, reason, required_approvals, outcome, created_at, updated_at, started_at, finished_at)
SELECT r.id,
       CASE WHEN t.kind = 'database' AND json_valid(r.payload) AND json_extract(r.payload, '$.kind') = 'change' THEN 'change' ELSE 'rollback' END,
       t.environment_id, r.state, r.requester, r.reason, r.required_approvals, r.outcome, r.created_at, r.updated_at, r.started_at, r.finished_at
FROM requests r JOIN targets t ON t.id = r.target_id;

INSERT INTO request_steps (request_id, position, target_id, version_id, base_version_id, expected, payload, state, outcome, result_version_id, attempts, started_at, finished_at)
SELECT id, 1, target_id, version_id, base_version_id, expected, payload,
       CASE state WHEN 'running' THEN 'running' WHEN 'succeeded' THEN 'succeeded' WHEN 'failed' THEN 'failed' ELSE 'waiting' END,
       CASE WHEN state IN ('running', 'succeeded', 'failed') THEN outcome ELSE '' END,
       result_version_id, CASE WHEN started_at IS NULL THEN 0 ELSE 1 END, started_at, finished_at
FROM requests;

DROP INDEX rollback_requests_state;
DROP INDEX rollback_requests_target;
DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_state ON requests (state);
CREATE INDEX requests_release ON requests (release_id);

-- Approvals bind to the plan they saw.
CREATE TABLE approvals_new (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests (id),
    approver   TEXT NOT NULL,
    approve    INTEGER NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    plan_hash  TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (request_id, approver, plan_hash)
);
INSERT INTO approvals_new (id, request_id, approver, approve, comment, created_at)
SELECT id, request_id, approver, approve, comment, created_at FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_new RENAME TO approvals;

-- A SQL execution now belongs to the step that ran it.
CREATE TABLE sql_executions_new (
    version_id               INTEGER PRIMARY KEY REFERENCES versions (id),
    step_id                  INTEGER NOT NULL UNIQUE REFERENCES request_steps (id),
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
INSERT INTO sql_executions_new
SELECT e.version_id, s.id, e.kind, e.of_version_id, e.succeeded, e.applied, e.transactional, e.not_transactional_reason, e.saving_skipped,
       e.rows_affected, e.statement_count, e.saved, e.saved_rows, e.saved_tables, e.rollback_sql, e.rollback_note, e.verified, e.verify_ok, e.verify_report
FROM sql_executions e JOIN request_steps s ON s.request_id = e.request_id AND s.position = 1;
DROP INDEX sql_executions_of_version;
DROP TABLE sql_executions;
ALTER TABLE sql_executions_new RENAME TO sql_executions;
CREATE INDEX sql_executions_of_version ON sql_executions (of_version_id);
