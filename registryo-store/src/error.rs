//! Driver errors as the storage port's [`StoreError`]: unique violations are conflicts,
//! foreign-key violations missing records, outages (see [`Outage`]) unavailability.

use registryo_core::storage::{DatabaseError, Outage, StoreError};

/// The outage behind a driver error, if it is one.
fn outage(err: &sqlx::Error) -> Option<Outage> {
    match err {
        sqlx::Error::PoolTimedOut => Some(Outage::Timeout),
        // Not PoolClosed: the handle was closed on purpose, for good.
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            Some(Outage::Unreachable)
        }
        sqlx::Error::Database(db) => database_outage(db.as_ref()),
        _ => None,
    }
}

fn database_outage(db: &dyn sqlx::error::DatabaseError) -> Option<Outage> {
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes: the primary code is the low byte.
        let code = db.code()?.parse::<i32>().ok()?;
        return match code & 0xff {
            13 => Some(Outage::Full),    // SQLITE_FULL
            10 | 14 => Some(Outage::Io), // SQLITE_IOERR, SQLITE_CANTOPEN
            5 | 6 => Some(Outage::Busy), // SQLITE_BUSY, SQLITE_LOCKED
            8 => Some(Outage::ReadOnly), // SQLITE_READONLY
            _ => None,
        };
    }
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        // https://www.postgresql.org/docs/current/errcodes-appendix.html
        let code = pg.code();
        return match code {
            "53100" => Some(Outage::Full),                            // disk_full
            "58030" => Some(Outage::Io),                              // io_error
            "25006" => Some(Outage::ReadOnly),                        // read_only_sql_transaction
            "57P01" | "57P02" | "57P03" => Some(Outage::Unreachable), // shutdown, cannot connect now
            "53200" | "53300" | "53400" | "55P03" | "57014" | "40P01" => Some(Outage::Busy),
            _ if code.starts_with("08") => Some(Outage::Unreachable), // connection exception
            _ => None,
        };
    }
    let _ = db;
    None
}

/// A driver error as a [`StoreError`]: unique violations become [`StoreError::Conflict`],
/// foreign-key violations [`StoreError::NotFound`] (the referenced record is missing), outages
/// (see [`Outage`]) [`StoreError::Unavailable`], the rest [`StoreError::Database`]. Call sites
/// that know the record add context with `StoreError::context`.
pub(crate) fn from_sqlx(err: sqlx::Error) -> StoreError {
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
    if let Some(kind) = outage(&err) {
        count(Some(kind));
        return StoreError::Unavailable {
            kind,
            source: DatabaseError::new(err),
        };
    }
    count(None);
    StoreError::Database(DatabaseError::new(err))
}

/// A database error in the metrics (`registryo_core::telemetry::DATABASE_ERRORS`): an outage
/// by its kind, any other driver error as `other` (conflicts and missing records are answers,
/// not errors).
fn count(outage: Option<Outage>) {
    let kind = match outage {
        Some(Outage::Full) => "full",
        Some(Outage::Io) => "io",
        Some(Outage::Unreachable) => "unreachable",
        Some(Outage::Timeout) => "timeout",
        Some(Outage::Busy) => "busy",
        Some(Outage::ReadOnly) => "read_only",
        // A kind of outage the core may add later.
        Some(_) | None => "other",
    };
    metrics::counter!(registryo_core::telemetry::DATABASE_ERRORS, "kind" => kind).increment(1);
}

/// A migration error as a [`StoreError`] (an outage when the database failed under it).
pub(crate) fn from_migrate(err: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError;
    let kind = match &err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => outage(e),
        _ => None,
    };
    match kind {
        Some(kind) => StoreError::Unavailable {
            kind,
            source: DatabaseError::new(err),
        },
        None => StoreError::Database(DatabaseError::new(err)),
    }
}

/// Errors that become a [`StoreError`]: the driver's, and a [`StoreError`] itself, so that
/// `.map_err(db)?` works on either.
pub(crate) trait IntoStoreError {
    fn into_store_error(self) -> StoreError;
}

impl IntoStoreError for sqlx::Error {
    fn into_store_error(self) -> StoreError {
        from_sqlx(self)
    }
}

impl IntoStoreError for sqlx::migrate::MigrateError {
    fn into_store_error(self) -> StoreError {
        from_migrate(self)
    }
}

impl IntoStoreError for StoreError {
    fn into_store_error(self) -> StoreError {
        self
    }
}

/// For `.map_err(db)?`: any [`IntoStoreError`] as a [`StoreError`].
pub(crate) fn db(err: impl IntoStoreError) -> StoreError {
    err.into_store_error()
}
