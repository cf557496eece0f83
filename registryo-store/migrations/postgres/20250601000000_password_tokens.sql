-- Password reset and invitation tokens (PostgreSQL). Only the SHA-256 of a token is kept.
-- A token is single-use (used_at), expires (expires_at), and every password change deletes
-- the user's unused tokens (Store::set_password_hash, in the same transaction).

CREATE TABLE password_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT   NOT NULL UNIQUE,
    purpose    TEXT   NOT NULL CHECK (purpose IN ('reset', 'invite')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX password_tokens_user ON password_tokens (user_id);
