-- PostgreSQL twin of migrations/0004_sessions.sql.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    address    TEXT NOT NULL DEFAULT '' CHECK (length(address) <= 64),
    user_agent TEXT NOT NULL DEFAULT '' CHECK (length(user_agent) <= 200)
);

CREATE INDEX sessions_user ON sessions (user_id, last_seen);
