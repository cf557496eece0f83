//! What keeps the store usable through storage faults: the write probe of health checks,
//! and never handing out a connection whose transaction broke.

use crate::error::db;
use crate::rows::{Model, PolicyRevisionRow};
use crate::store::WritePool;
use crate::{PolicyRevision, Store, StoreError};
use async_trait::async_trait;
use registryo_core::storage::StoreHealth;

/// The setting [`Store::check_writable`] writes.
const HEALTH_PROBE_KEY: &str = "registryo.health_probe";

/// Whether a pooled connection still believes it is inside a transaction when it is handed
/// out again. It should never be: the transaction of the previous user was committed or
/// rolled back. But when a write fails with SQLITE_FULL or SQLITE_IOERR, SQLite rolls the
/// transaction back by itself, sqlx's own `ROLLBACK` then fails ("no transaction is
/// active"), and sqlx keeps counting the transaction as open: every later `BEGIN` on that
/// connection failed ("attempted to call begin_with at non-zero transaction depth"), so
/// writes kept failing after the disk had room again, until a restart. Such a connection is
/// closed instead (`before_acquire` returning `false`) and the pool opens a fresh one. On
/// PostgreSQL the same check drops a connection whose rollback failed.
pub(crate) fn conn_in_transaction<C: sqlx::Connection>(conn: &C) -> bool {
    conn.is_in_transaction()
}

#[async_trait]
impl StoreHealth for Store {
    /// Checks that the database answers (for a health check).
    async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await.map_err(db)?;
        });
        Ok(())
    }

    /// Checks that the database takes a write, for a health check: commits a one-row write
    /// (the setting `registryo.health_probe`, the current time) in a write transaction. A
    /// full disk, an I/O error, a read-only database or a lock held past the busy timeout
    /// fail it with [`StoreError::Unavailable`], which [`Store::ping`] would not notice (a
    /// read works on a full disk). On SQLite the probe appends one page to the WAL: call it
    /// at most every second or so, not once per request.
    async fn check_writable(&self) -> Result<(), StoreError> {
        let now = crate::store::now().to_string();
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(HEALTH_PROBE_KEY)
            .bind(&now)
            .execute(&mut *tx)
            .await.map_err(db)?;
            tx.commit().await.map_err(db)?;
        });
        Ok(())
    }

    /// The current policy revision: one indexed row, cheap to poll.
    ///
    /// To compile an ACL, read the revision **before** the rules, users and memberships: the
    /// data is then at least as new as the revision, and a change landing in between is seen
    /// again at the next poll.
    async fn policy_revision(&self) -> Result<PolicyRevision, StoreError> {
        let rev = dispatch!(self, pool => {
            sqlx::query_as::<_, PolicyRevisionRow>(
                "SELECT revision, changed_at FROM policy_revision WHERE id = 1",
            )
            .fetch_one(pool)
            .await.map_err(db)?.model()
        });
        Ok(rev)
    }
}

#[cfg(test)]
mod tests {
    use crate::StoreError;
    #[cfg(feature = "sqlite")]
    use crate::store::{Backend, WritePool};
    #[cfg(feature = "sqlite")]
    use crate::{Store, StoreOptions};
    use registryo_core::storage::prelude::*;

    /// SQLite ends a transaction by itself when a write fails with SQLITE_FULL or
    /// SQLITE_IOERR; sqlx's own ROLLBACK then fails and it keeps counting the transaction as
    /// open. Such a connection must not be handed out again (it refused every BEGIN: writes
    /// failed until a restart although the disk had room again). Ending the transaction
    /// behind sqlx's back with a plain `ROLLBACK` makes the same state without a full disk.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_connection_whose_transaction_sqlite_ended_is_not_reused() {
        let path =
            std::env::temp_dir().join(format!("registryo-store-recycle-{}.db", std::process::id()));
        let cleanup = |p: &std::path::Path| {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        };
        cleanup(&path);
        let options = StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        };
        let store = Store::connect_with(&path.display().to_string(), &options)
            .await
            .unwrap();
        let Backend::Sqlite(pool) = &store.backend else {
            unreachable!()
        };
        for round in 0..3 {
            let mut tx = pool.begin_write().await.unwrap();
            sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
            drop(tx); // sqlx's ROLLBACK fails: "no transaction is active"
            // The only connection was closed and replaced: writes work.
            let value = format!("v{round}");
            assert_eq!(
                store
                    .get_or_init_setting(&format!("k{round}"), &value)
                    .await
                    .unwrap(),
                value
            );
            store.check_writable().await.unwrap();
        }
        store.close().await;
        cleanup(&path);
    }

    #[test]
    fn outages_are_unavailable_not_database_errors() {
        let timed_out = crate::error::db(sqlx::Error::PoolTimedOut);
        assert!(
            matches!(
                timed_out,
                StoreError::Unavailable {
                    kind: crate::Outage::Timeout,
                    ..
                }
            ),
            "{timed_out:?}"
        );
        let io = crate::error::db(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(matches!(
            io,
            StoreError::Unavailable {
                kind: crate::Outage::Unreachable,
                ..
            }
        ));
        assert_eq!(
            io.to_string(),
            "the database is unavailable: the database cannot be reached"
        );
        assert!(matches!(
            crate::error::db(sqlx::Error::PoolClosed),
            StoreError::Database(_)
        ));
    }
}
