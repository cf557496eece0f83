//! The one error type of the store.

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
    /// The database failed or could not be reached. Maps to HTTP 500; log the source.
    #[error("database error")]
    Database(#[source] DatabaseError),
}

/// The hidden detail of a [`StoreError::Database`]: shown by its own `Display`, for logs.
pub struct DatabaseError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl DatabaseError {
    pub(crate) fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
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

impl From<sqlx::Error> for StoreError {
    /// Unique violations become [`StoreError::Conflict`], foreign-key violations
    /// [`StoreError::NotFound`] (the referenced record is missing), the rest
    /// [`StoreError::Database`]. Call sites that know the record add context with
    /// `StoreError::context`.
    fn from(err: sqlx::Error) -> Self {
        if let Some(db) = err.as_database_error() {
            if db.is_unique_violation() {
                return StoreError::Conflict("record".to_owned());
            }
            if db.is_foreign_key_violation() {
                return StoreError::NotFound("referenced record".to_owned());
            }
        }
        if let sqlx::Error::RowNotFound = err {
            return StoreError::NotFound("record".to_owned());
        }
        StoreError::Database(DatabaseError::new(err))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(DatabaseError::new(err))
    }
}

impl StoreError {
    /// Names the record in a `Conflict` (`conflict`) or `NotFound` (`missing`) that came from
    /// a constraint violation; leaves other errors alone.
    pub(crate) fn context(
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
