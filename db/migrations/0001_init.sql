CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'approver', 'admin')),
    created_at    TEXT NOT NULL
);

CREATE TABLE environments (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    required_approvals INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL
);

CREATE TABLE clusters (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    environment_id  INTEGER NOT NULL REFERENCES environments (id),
    kubeconfig_path TEXT NOT NULL DEFAULT '',
    context         TEXT NOT NULL DEFAULT '',
    in_cluster      INTEGER NOT NULL DEFAULT 0,
    kubeconfig_enc  BLOB,
    namespaces      TEXT NOT NULL,
    from_config     INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);

CREATE TABLE targets (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    environment_id INTEGER NOT NULL REFERENCES environments (id),
    owner_id       INTEGER NOT NULL,
    namespace      TEXT NOT NULL DEFAULT '',
    workload       TEXT NOT NULL DEFAULT '',
    grp            TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    deleted_at     TEXT,
    UNIQUE (kind, owner_id, namespace, workload, grp, name)
);

CREATE TABLE rollback_requests (
    id                 INTEGER PRIMARY KEY,
    target_id          INTEGER NOT NULL REFERENCES targets (id),
    version_id         INTEGER,
    base_version_id    INTEGER,
    state              TEXT NOT NULL,
    requester          TEXT NOT NULL,
    reason             TEXT NOT NULL,
    expected           TEXT NOT NULL DEFAULT '',
    required_approvals INTEGER NOT NULL,
    outcome            TEXT NOT NULL DEFAULT '',
    result_version_id  INTEGER,
    payload            TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT
);
CREATE INDEX rollback_requests_state ON rollback_requests (state);
CREATE INDEX rollback_requests_target ON rollback_requests (target_id, id);

CREATE TABLE versions (
    id           INTEGER PRIMARY KEY,
    target_id    INTEGER NOT NULL REFERENCES targets (id),
    number       INTEGER NOT NULL,
    revision     TEXT NOT NULL DEFAULT '',
    content      TEXT NOT NULL,
    hash         TEXT NOT NULL,
    source       TEXT NOT NULL,
    author       TEXT NOT NULL DEFAULT '',
    change_cause TEXT NOT NULL DEFAULT '',
    images       TEXT NOT NULL DEFAULT '[]',
    meta         TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL,
    request_id   INTEGER REFERENCES rollback_requests (id),
    UNIQUE (target_id, number)
);
CREATE INDEX versions_target_hash ON versions (target_id, hash);

CREATE TABLE approvals (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES rollback_requests (id),
    approver   TEXT NOT NULL,
    approve    INTEGER NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (request_id, approver)
);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    environment TEXT NOT NULL DEFAULT '',
    target_kind TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    request_id  INTEGER,
    outcome     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);
