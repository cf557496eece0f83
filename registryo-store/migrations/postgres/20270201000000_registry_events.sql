-- The registry's activity, from its notifications (registryo_core::notify). Pushes, mounts and
-- deletions are a row each, unique on the registry's event id (delivery is at least once);
-- pulls are a row per (UTC day, actor, repository), keyed by pull_key, counting the manifests
-- pulled (count) and the bytes of everything pulled (size); event_id is the day's first.
CREATE TABLE registry_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        TEXT UNIQUE,
    at              BIGINT NOT NULL,
    action          TEXT    NOT NULL CHECK (action IN ('push', 'pull', 'mount', 'delete')),
    subject         TEXT    NOT NULL CHECK (subject IN ('manifest', 'blob', 'tag', 'repository')),
    repository      TEXT    NOT NULL,
    from_repository TEXT,
    tag             TEXT,
    digest          TEXT,
    media_type      TEXT,
    size            BIGINT,
    actor           TEXT,
    remote_addr     TEXT,
    user_agent      TEXT,
    audit_id        BIGINT,
    count           BIGINT NOT NULL DEFAULT 1,
    pull_key        TEXT UNIQUE
);
CREATE INDEX registry_events_repository ON registry_events (repository, id);
CREATE INDEX registry_events_actor ON registry_events (actor, id);
CREATE INDEX registry_events_action ON registry_events (action, id);
CREATE INDEX registry_events_at ON registry_events (at);
CREATE INDEX registry_events_tag_pushes ON registry_events (repository, tag, id) WHERE action = 'push' AND tag IS NOT NULL;
-- The id of every pull counted, so that one the registry delivers again is counted once;
-- forgotten after a day (the registry retries within minutes; a busy registry's pulls would
-- otherwise fill this table as they would have filled registry_events).
CREATE TABLE registry_pull_ids (
    event_id TEXT PRIMARY KEY,
    at       BIGINT NOT NULL
);
CREATE INDEX registry_pull_ids_at ON registry_pull_ids (at);
