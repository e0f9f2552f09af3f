-- Notifications: channels, the rules that route events to them, the outbox
-- of events and the deliveries made from it, with every attempt.
--
-- Plain SQL that PostgreSQL also runs: claims are conditional updates, and
-- duplicates are refused by unique keys (ON CONFLICT DO NOTHING).

-- A user's own e-mail address, for the messages they subscribe to.
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';

-- Where messages go: a Slack, DingTalk, Feishu or WeCom robot, a generic
-- webhook, or an SMTP server. settings (JSON) holds what is not secret (an
-- SMTP server's host, port, security, username, sender and recipients);
-- secret_enc the sealed JSON of what is (a webhook URL, which holds a token,
-- a signing secret, an SMTP password), never shown again; shown is what
-- pages show of the endpoint, without its secret parts. locale is the
-- language of its messages.
CREATE TABLE notify_channels (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('slack', 'dingtalk', 'feishu', 'wecom', 'webhook', 'email')),
    locale     TEXT NOT NULL DEFAULT 'en',
    settings   TEXT NOT NULL DEFAULT '{}',
    secret_enc BLOB,
    shown      TEXT NOT NULL DEFAULT '',
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX notify_channels_name ON notify_channels (name) WHERE deleted_at IS NULL;

-- Which events go to which channel: in one environment (NULL: every one)
-- and of one workflow (NULL: any, and requests outside workflows). events
-- is a comma-separated list of event kinds. A rule with a user_id is that
-- user's subscription: its messages go by e-mail channel_id to the user's
-- address, in locale; mine_only keeps the requests the user made.
CREATE TABLE notify_rules (
    id             INTEGER PRIMARY KEY,
    channel_id     INTEGER NOT NULL REFERENCES notify_channels (id),
    environment_id INTEGER REFERENCES environments (id),
    workflow_id    INTEGER REFERENCES workflows (id),
    events         TEXT NOT NULL,
    user_id        INTEGER REFERENCES users (id) ON DELETE CASCADE,
    locale         TEXT NOT NULL DEFAULT '',
    mine_only      INTEGER NOT NULL DEFAULT 0,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX notify_rules_user ON notify_rules (user_id);

-- The outbox: one row per event, written in the transaction that made the
-- event happen (a request's state change, a step's failure, a release's
-- block). The sender routes it (routed_at) by the rules into deliveries.
-- detail is what pages show of it: a comment, an outcome, a reason.
CREATE TABLE notify_events (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    environment_id INTEGER,
    request_id     INTEGER,
    release_id     INTEGER,
    step           INTEGER NOT NULL DEFAULT 0,
    actor          TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    routed_at      TEXT
);
CREATE INDEX notify_events_unrouted ON notify_events (routed_at, id);

-- One message of one event to one channel (and, for an e-mail
-- subscription, one recipient). state: queued (waits for next_at), sending
-- (claimed until lease_until by a sender), sent, or failed (given up, or
-- its channel gone; "send again" queues it anew, and attempts_before keeps
-- the attempts made until then, so that the bound on attempts starts again).
CREATE TABLE notify_deliveries (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES notify_events (id),
    channel_id  INTEGER NOT NULL REFERENCES notify_channels (id),
    recipient   TEXT NOT NULL DEFAULT '',
    locale      TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    attempts_before INTEGER NOT NULL DEFAULT 0,
    next_at     TEXT NOT NULL,
    lease_until TEXT,
    last_error  TEXT NOT NULL DEFAULT '',
    sent_at     TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (event_id, channel_id, recipient)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, next_at);

-- Every attempt at a delivery. outcome: sending while it runs; sent;
-- failed (error says why); unknown when Rewind stopped during it, so that
-- whether the receiver got it cannot be known.
CREATE TABLE notify_attempts (
    delivery_id INTEGER NOT NULL REFERENCES notify_deliveries (id),
    number      INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('sending', 'sent', 'failed', 'unknown')),
    error       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, number)
);
