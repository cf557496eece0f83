//! Settings: a small key-value table (e.g. a generated cookie secret).

use crate::error::db;
use crate::store::{WritePool, check_text, now};
use crate::{Store, StoreError};
use async_trait::async_trait;
use registryo_core::storage::{Audit, SettingStore};

#[async_trait]
impl SettingStore for Store {
    /// The value of a setting, if set.
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = dispatch!(self, pool => {
            sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await.map_err(db)?
        });
        Ok(value)
    }

    /// Sets a setting, replacing any value. The audit events are written in the same
    /// transaction.
    async fn set_setting(
        &self,
        key: &str,
        value: &str,
        audit: Audit<'_, ()>,
    ) -> Result<(), StoreError> {
        check_text("setting key", key, 255)?;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await.map_err(db)?;
            write_audit!(tx, now, audit, &());
            tx.commit().await.map_err(db)?;
        });
        Ok(())
    }

    /// Replaces a setting only if it still holds `expected`; the audit events are written in
    /// the same transaction, and neither is when another writer changed the setting first.
    async fn replace_setting(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        audit: Audit<'_, ()>,
    ) -> Result<bool, StoreError> {
        check_text("setting key", key, 255)?;
        let now = now();
        let replaced = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let changed = sqlx::query("UPDATE settings SET value = $1 WHERE key = $2 AND value = $3")
                .bind(value)
                .bind(key)
                .bind(expected)
                .execute(&mut *tx)
                .await.map_err(db)?
                .rows_affected();
            if changed == 1 {
                write_audit!(tx, now, audit, &());
                tx.commit().await.map_err(db)?;
            }
            changed == 1
        });
        Ok(replaced)
    }

    /// The value of a setting, storing `value` first if it is not set. Atomic: when several
    /// replicas start at once with different candidates (e.g. random cookie secrets), all get
    /// the one that was stored first.
    async fn get_or_init_setting(&self, key: &str, value: &str) -> Result<String, StoreError> {
        check_text("setting key", key, 255)?;
        let stored = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await.map_err(db)?;
            let stored = sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(&mut *tx)
                .await.map_err(db)?;
            tx.commit().await.map_err(db)?;
            stored
        });
        Ok(stored)
    }

    /// Removes a setting: `true` if it was set.
    async fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        let changed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM settings WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(changed > 0)
    }
}
