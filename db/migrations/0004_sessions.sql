-- Server-side sessions: the cookie holds a random token, the table its
-- SHA-256 (id), so that a copy of the store lets no one log in. A session
-- ends when its row goes (logout, an admin, a password or role change) or
-- when the server finds it past expires_at or idle since last_seen.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    address    TEXT NOT NULL DEFAULT '' CHECK (length(address) <= 64),
    user_agent TEXT NOT NULL DEFAULT '' CHECK (length(user_agent) <= 200)
);

CREATE INDEX sessions_user ON sessions (user_id, last_seen);
