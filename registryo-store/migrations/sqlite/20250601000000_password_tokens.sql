-- Password reset and invitation tokens (SQLite). Only the SHA-256 of a token is kept.
-- A token is single-use (used_at), expires (expires_at), and every password change deletes
-- the user's unused tokens (Store::set_password_hash, in the same transaction).

CREATE TABLE password_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('reset', 'invite')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_tokens_user ON password_tokens (user_id);
