-- Sign-in through identity providers (OIDC, LDAP) and roles per environment:
-- the PostgreSQL twin of migrations/0008_signin.sql.

-- A user's role everywhere may now be 'none' (they have roles in some
-- environments only), and a user may come from a provider: source says how
-- they sign in, subject who the provider says they are (OIDC issuer and
-- subject, LDAP DN), provider_groups (JSON array) their groups at their last
-- sign-in. disabled_at is set when a provider's user is no longer in any
-- mapped group.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('none', 'viewer', 'operator', 'approver', 'admin'));
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'oidc', 'ldap'));
ALTER TABLE users ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN provider_groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE users ADD COLUMN last_login_at TEXT;
CREATE UNIQUE INDEX users_subject ON users (source, subject) WHERE source <> 'local';

-- A user's role in one environment, replacing their role everywhere there.
CREATE TABLE user_roles (
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    role           TEXT NOT NULL CHECK (role IN ('none', 'viewer', 'operator', 'approver', 'admin')),
    PRIMARY KEY (user_id, environment_id)
);
CREATE INDEX user_roles_environment ON user_roles (environment_id, role);

-- A service token's roles per environment (JSON object of environment ID to
-- role), each replacing the token's role there.
ALTER TABLE api_tokens ADD COLUMN environment_roles TEXT NOT NULL DEFAULT '{}';

-- How a session's user signed in; the sealed OIDC refresh token and when
-- the provider is asked again.
ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE sessions ADD COLUMN refresh_enc BYTEA;
ALTER TABLE sessions ADD COLUMN recheck_at TEXT;

-- What an admin chose in Settings: key and value.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
