//! [`StoreError`]: why a storage operation failed, the one error of the storage ports.

use std::fmt;

/// Why a store operation failed.
///
/// The `Display` of [`StoreError::Database`] says only "database error": the detail (SQL,
/// driver message) is in its [`source`](std::error::Error::source), for logs, never for users.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist (e.g. `user 42 not found`). Maps to HTTP 404.
    #[error("{0} not found")]
    NotFound(String),
    /// A record with the same unique key exists (e.g. `user "alice" already exists`).
    /// Maps to HTTP 409.
    #[error("{0} already exists")]
    Conflict(String),
    /// The input was refused before reaching the database (empty name, malformed hash,
    /// unsupported URL). Maps to HTTP 400.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The database cannot serve now but may soon: unreachable, too slow to hand out a
    /// connection, out of disk space, an I/O error, locked, read-only. Maps to HTTP 503 with
    /// `Retry-After`; log the source. The `Display` says which (never SQL or driver text).
    #[error("the database is unavailable: {kind}")]
    Unavailable {
        /// What kind of outage.
        kind: Outage,
        /// The driver's error, for logs.
        #[source]
        source: DatabaseError,
    },
    /// The store does not exist yet (a SQLite file that is missing, a PostgreSQL database
    /// without Registryo's tables) and [`StoreOptions::create`
    /// is off. The text names the database.
    #[error("no Registryo database at {0}")]
    Uninitialised(String),
    /// The database exists but cannot be used and must not be re-initialised: an empty
    /// (zero-length) file, a file that is not SQLite, damaged pages, another program's
    /// database. The text says which and what to do.
    #[error("{0}")]
    Damaged(String),
    /// The database needs migrations this version brings, and none was applied: the backup
    /// to be taken before them could not be made (a full disk, a directory that cannot be
    /// written). Nothing was changed; the text says where the backup was to go and why it
    /// failed.
    #[error("{0}")]
    NotMigrated(String),
    /// Any other database failure. Maps to HTTP 500; log the source.
    #[error("database error")]
    Database(#[source] DatabaseError),
}

/// The kind of a [`StoreError::Unavailable`]: a fault of the storage, not of the request, that
/// usually passes (space freed, database back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outage {
    /// The disk (or the database's quota) is full: SQLite's SQLITE_FULL, PostgreSQL's
    /// `disk_full`.
    Full,
    /// The storage failed to read or write: SQLite's SQLITE_IOERR or SQLITE_CANTOPEN,
    /// PostgreSQL's `io_error`.
    Io,
    /// The database cannot be reached: connection refused or lost, TLS failure, the server
    /// shutting down or starting.
    Unreachable,
    /// No connection within the pool's acquire timeout.
    Timeout,
    /// Locked by another writer past the busy timeout, too many connections, a lock or
    /// statement timeout, a deadlock.
    Busy,
    /// The database refuses writes (a read-only file or a standby server).
    ReadOnly,
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outage::Full => "the storage is full",
            Outage::Io => "the storage failed to read or write",
            Outage::Unreachable => "the database cannot be reached",
            Outage::Timeout => "the database did not answer in time",
            Outage::Busy => "the database is busy",
            Outage::ReadOnly => "the database is read-only",
        })
    }
}

/// The hidden detail of a [`StoreError::Database`]: shown by its own `Display`, for logs.
pub struct DatabaseError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl DatabaseError {
    /// The driver's error, kept for logs.
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        DatabaseError(Box::new(err))
    }
}

impl fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl StoreError {
    /// Names the record in a `Conflict` (`conflict`) or `NotFound` (`missing`) that came from
    /// a constraint violation; leaves other errors alone.
    pub fn context(
        self,
        conflict: impl FnOnce() -> String,
        missing: impl FnOnce() -> String,
    ) -> Self {
        match self {
            StoreError::Conflict(_) => StoreError::Conflict(conflict()),
            StoreError::NotFound(_) => StoreError::NotFound(missing()),
            other => other,
        }
    }
}
