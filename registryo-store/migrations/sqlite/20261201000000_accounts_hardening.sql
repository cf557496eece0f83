-- Names are unique without regard to case: `Admin` cannot sit beside `admin`.
CREATE UNIQUE INDEX users_username_nocase ON users (lower(username));
CREATE UNIQUE INDEX groups_name_nocase ON groups (lower(name));

-- Where each docker login (refresh token) was made and last used from.
ALTER TABLE refresh_tokens ADD COLUMN created_addr TEXT;
ALTER TABLE refresh_tokens ADD COLUMN last_used_addr TEXT;

-- Repeated events (failed sign-ins) are counted into one row per account, address and minute:
-- `dedup` names the row, `count` how many times it happened.
ALTER TABLE audit_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN dedup TEXT;
CREATE UNIQUE INDEX audit_events_dedup ON audit_events (dedup);

-- Failed password checks per (folded) username, client address and minute: the guessing
-- limits, shared by every replica. Rows older than an hour are pruned.
CREATE TABLE auth_failures (
    username TEXT    NOT NULL,
    addr     TEXT    NOT NULL,
    minute   INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (username, addr, minute)
);
CREATE INDEX auth_failures_minute ON auth_failures (minute);

-- The addresses an account signed in from with the right password: its usual addresses, which
-- the per-account limit (many addresses guessing one account) does not shut out.
CREATE TABLE user_addresses (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    addr      TEXT    NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (user_id, addr)
);
