-- Retention: an admin may let Rewind remove old versions of a kind of
-- target (versions are kept forever unless a retention is set).

-- The revisions of imported versions that retention removed, so that the
-- history they came from (ReplicaSets, ControllerRevisions, Nacos history)
-- is not imported again.
CREATE TABLE pruned_revisions (
    target_id INTEGER NOT NULL REFERENCES targets (id),
    revision  TEXT NOT NULL,
    PRIMARY KEY (target_id, revision)
) WITHOUT ROWID;

-- How many versions of each kind of target retention has removed, ever.
CREATE TABLE pruned_counts (
    kind     TEXT PRIMARY KEY,
    versions INTEGER NOT NULL DEFAULT 0
);
