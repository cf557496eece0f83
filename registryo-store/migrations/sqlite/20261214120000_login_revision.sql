-- One row, bumped by every change that ends or suspends docker logins (refresh tokens): a
-- revocation, a password change that revoked them, disabling or removing an account. Servers
-- poll it every second and forget the refresh tokens they verified when it moves.
CREATE TABLE login_revision (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    revision   INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
);
INSERT INTO login_revision (id, revision, changed_at)
VALUES (1, 0, CAST(strftime('%s', 'now') AS INTEGER));
