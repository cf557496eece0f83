-- Registryo initial schema (PostgreSQL). Timestamps are unix seconds (BIGINT).
-- Names use the "C" collation so that uniqueness and ordering are byte-wise, as in SQLite.

CREATE TABLE users (
    id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            TEXT    COLLATE "C" NOT NULL UNIQUE,
    password_hash       TEXT,
    kind                TEXT    NOT NULL CHECK (kind IN ('human', 'service')),
    is_admin            BOOLEAN NOT NULL DEFAULT FALSE,
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    first_name          TEXT    NOT NULL DEFAULT '',
    last_name           TEXT    NOT NULL DEFAULT '',
    email               TEXT,
    expires_at          BIGINT,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    password_changed_at BIGINT
);

CREATE TABLE groups (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT   COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE acl_rules (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject    TEXT   NOT NULL,
    pattern    TEXT   NOT NULL,
    actions    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT
);

CREATE TABLE refresh_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT   NOT NULL UNIQUE,
    client_id    TEXT   NOT NULL,
    service      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT,
    action      TEXT   NOT NULL,
    target      TEXT,
    detail      TEXT,
    remote_addr TEXT
);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE sessions (
    id_hash    TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row, bumped by every change that can alter the compiled access policy.
CREATE TABLE policy_revision (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    revision   BIGINT  NOT NULL,
    changed_at BIGINT  NOT NULL
);
INSERT INTO policy_revision (id, revision, changed_at)
VALUES (1, 0, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT));
