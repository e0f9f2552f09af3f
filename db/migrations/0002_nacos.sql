-- Nacos servers whose configs Rewind follows.

-- A registered Nacos server. Its password is stored encrypted (password_enc)
-- and never shown again. namespaces and mask_keys are comma-separated.
CREATE TABLE nacos_servers (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    environment_id INTEGER NOT NULL REFERENCES environments (id),
    addr           TEXT NOT NULL,
    context_path   TEXT NOT NULL DEFAULT '',
    namespaces     TEXT NOT NULL,
    username       TEXT NOT NULL DEFAULT '',
    password_enc   BLOB,
    mask_keys      TEXT NOT NULL DEFAULT '',
    from_config    INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);

-- Versions imported from Nacos history are found again by their history ID
-- (the version's revision).
CREATE INDEX versions_target_revision ON versions (target_id, revision);
