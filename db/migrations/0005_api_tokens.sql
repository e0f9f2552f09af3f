-- API tokens and the idempotency keys of API requests.

-- A token for /api/v1. Only the SHA-256 of the token is kept; the token is
-- shown once, when created. A personal token acts as its user (with role
-- capped to viewer when read_only); a service token (username '') acts with
-- its own role, optionally only in the environments listed (JSON array of IDs).
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    username     TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    environments TEXT NOT NULL DEFAULT '[]',
    read_only    INTEGER NOT NULL DEFAULT 0,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX api_tokens_owner_name ON api_tokens (username, name) WHERE revoked_at IS NULL;

-- An Idempotency-Key given when creating a request: the same key from the
-- same actor returns the same request.
CREATE TABLE idempotency_keys (
    actor      TEXT NOT NULL,
    key        TEXT NOT NULL,
    request_id INTEGER NOT NULL REFERENCES rollback_requests (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (actor, key)
);
