-- PostgreSQL twin of migrations/0009_retention.sql (comments there).
CREATE TABLE pruned_revisions (
    target_id BIGINT NOT NULL REFERENCES targets (id),
    revision  TEXT NOT NULL,
    PRIMARY KEY (target_id, revision)
);

CREATE TABLE pruned_counts (
    kind     TEXT PRIMARY KEY,
    versions BIGINT NOT NULL DEFAULT 0
);
