-- What the replicas of one store share (several Rewind processes on one
-- PostgreSQL; a single SQLite Rewind uses the same tables).

-- Keys kept in the store, sealed with the secret key, so that every
-- replica has the same: 'session' (the cookie keys), 'key_check' (a known
-- text sealed with the secret key: a replica started with another key
-- refuses to run instead of sealing with it).
CREATE TABLE store_keys (
    name       TEXT PRIMARY KEY,
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL
);

-- The lease of the leader, the one replica that runs requests, watches
-- targets and sends notifications. record is the holder's claim (JSON: who,
-- for how long, when acquired and renewed); each write bumps version, and a
-- write names the version it read, so that two replicas never both win.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    record  TEXT NOT NULL,
    version INTEGER NOT NULL
);

-- Failed logins per key (a username, a client address) that all replicas
-- count together: failures, the attempts under way, no attempt before
-- wait_until; last is the time of the last attempt.
CREATE TABLE login_throttle (
    key        TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL DEFAULT 0,
    in_flight  INTEGER NOT NULL DEFAULT 0,
    wait_until TEXT NOT NULL DEFAULT '',
    last       TEXT NOT NULL
);
CREATE INDEX login_throttle_last ON login_throttle (last);
