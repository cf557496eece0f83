-- What each policy revision changed: the rules and users (by id) a server re-reads to update
-- its policy in place of rebuilding it. Several rows may share a revision (a bulk import, a
-- user removed with their rules). Rows older than a day are pruned; the log is complete for
-- the revisions after `policy_revision.log_floor`, and a server further behind rebuilds.
CREATE TABLE policy_changes (
    revision BIGINT  NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('rule', 'user')),
    ref_id   BIGINT  NOT NULL,
    at       BIGINT  NOT NULL
);
CREATE INDEX policy_changes_revision ON policy_changes (revision);
ALTER TABLE policy_revision ADD COLUMN log_floor BIGINT NOT NULL DEFAULT 0;
UPDATE policy_revision SET log_floor = revision;
