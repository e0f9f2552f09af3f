-- PostgreSQL twin of migrations/0008_replicas.sql (comments there).
CREATE TABLE store_keys (
    name       TEXT PRIMARY KEY,
    sealed     BYTEA NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    record  TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE login_throttle (
    key        TEXT PRIMARY KEY,
    failures   BIGINT NOT NULL DEFAULT 0,
    in_flight  BIGINT NOT NULL DEFAULT 0,
    wait_until TEXT NOT NULL DEFAULT '',
    last       TEXT NOT NULL
);
CREATE INDEX login_throttle_last ON login_throttle (last);
