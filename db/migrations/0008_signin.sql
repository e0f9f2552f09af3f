-- Sign-in through identity providers (OIDC, LDAP) and roles per environment.

-- users is rebuilt (SQLite cannot change a CHECK in place): a user's role
-- everywhere may now be 'none' (they have roles in some environments only),
-- and a user may come from a provider: source says how they sign in,
-- subject who the provider says they are (OIDC issuer and subject, LDAP DN),
-- provider_groups (JSON array) their groups at their last sign-in. disabled_at is set
-- when a provider's user is no longer in any mapped group; a provider's user
-- gets the e-mail address their provider gives.
CREATE TABLE users_new (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('none', 'viewer', 'operator', 'approver', 'admin')),
    created_at      TEXT NOT NULL,
    email           TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'oidc', 'ldap')),
    subject         TEXT NOT NULL DEFAULT '',
    display_name    TEXT NOT NULL DEFAULT '',
    provider_groups TEXT NOT NULL DEFAULT '[]',
    disabled_at     TEXT,
    last_login_at   TEXT
);
INSERT INTO users_new (id, username, password_hash, role, created_at, email)
    SELECT id, username, password_hash, role, created_at, email FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE UNIQUE INDEX users_subject ON users (source, subject) WHERE source <> 'local';

-- A user's role in one environment, replacing their role everywhere there.
CREATE TABLE user_roles (
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    role           TEXT NOT NULL CHECK (role IN ('none', 'viewer', 'operator', 'approver', 'admin')),
    PRIMARY KEY (user_id, environment_id)
);
CREATE INDEX user_roles_environment ON user_roles (environment_id, role);

-- A service token's roles per environment (JSON object of environment ID to
-- role), each replacing the token's role there.
ALTER TABLE api_tokens ADD COLUMN environment_roles TEXT NOT NULL DEFAULT '{}';

-- A session remembers how its user signed in. For a provider's user,
-- refresh_enc is the sealed OIDC refresh token (empty for LDAP) and
-- recheck_at when Rewind asks the provider again whether the user still
-- holds their groups; a user the provider no longer knows, or who lost every
-- role, is signed out then.
ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE sessions ADD COLUMN refresh_enc BLOB;
ALTER TABLE sessions ADD COLUMN recheck_at TEXT;

-- What an admin chose in Settings: key and value, such as whether the
-- password form of local users is offered.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
