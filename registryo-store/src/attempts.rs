//! Failed password checks and usual addresses: what the guessing limits count
//! (`registryo_core::throttle`), shared by every replica.
//!
//! Failures are counted into one row per (folded) username, client address and minute, and
//! into one audit event per the same key, so a flood of wrong guesses grows neither table
//! without bound; the janitor prunes old rows.

use crate::error::db;
use crate::rows::{FailureCountRow, Model};
use crate::store::{WritePool, check_text, now};
use crate::{FailureCount, NewAuditEvent, Store, StoreError};
use async_trait::async_trait;
use registryo_core::storage::AttemptStore;

#[async_trait]
impl AttemptStore for Store {
    /// Records one failed password check of `username` (folded to lower case by the caller)
    /// from `addr` in `minute`, and counts it into the audit event `event` keyed by `dedup`
    /// (one row per key; its `count` says how many), in one transaction.
    async fn record_auth_failure(
        &self,
        username: &str,
        addr: &str,
        minute: i64,
        event: &NewAuditEvent,
        dedup: &str,
    ) -> Result<(), StoreError> {
        check_text("username", username, 255)?;
        crate::audit::check_event(event)?;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            sqlx::query(
                "INSERT INTO auth_failures (username, addr, minute, count) \
                 VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (username, addr, minute) DO UPDATE \
                 SET count = auth_failures.count + 1",
            )
            .bind(username)
            .bind(addr)
            .bind(minute)
            .execute(&mut *tx)
            .await.map_err(db)?;
            count_event!(tx, now, event, dedup);
            tx.commit().await.map_err(db)?;
        });
        Ok(())
    }

    /// The failures of `username` (folded) per minute since `since_minute`, with those from
    /// `addr` apart.
    async fn auth_failures(
        &self,
        username: &str,
        addr: &str,
        since_minute: i64,
    ) -> Result<Vec<FailureCount>, StoreError> {
        let rows = dispatch!(self, pool => {
            sqlx::query_as::<_, FailureCountRow>(
                "SELECT minute, \
                 CAST(SUM(CASE WHEN addr = $2 THEN count ELSE 0 END) AS BIGINT) AS from_addr, \
                 CAST(SUM(count) AS BIGINT) AS total \
                 FROM auth_failures WHERE username = $1 AND minute >= $3 \
                 GROUP BY minute ORDER BY minute",
            )
            .bind(username)
            .bind(addr)
            .bind(since_minute)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(rows)
    }

    /// Deletes failure counts of minutes before `before_minute`; returns how many rows went.
    async fn prune_auth_failures(&self, before_minute: i64) -> Result<u64, StoreError> {
        let n = dispatch!(self, pool => {
            sqlx::query("DELETE FROM auth_failures WHERE minute < $1")
                .bind(before_minute)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(n)
    }

    /// Records that the account signed in with the right password from `addr`, now.
    async fn record_user_address(&self, user_id: i64, addr: &str) -> Result<(), StoreError> {
        check_text("address", addr, 255)?;
        let now = now();
        let result = dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO user_addresses (user_id, addr, last_seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, addr) DO UPDATE SET last_seen = $3",
            )
            .bind(user_id)
            .bind(addr)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        });
        result.map_err(|e| crate::error::db(e).context(String::new, || format!("user {user_id}")))
    }

    /// Whether the account signed in with the right password from `addr` at `since` or later.
    async fn is_usual_address(
        &self,
        user_id: i64,
        addr: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = dispatch!(self, pool => {
            sqlx::query_scalar(
                "SELECT last_seen FROM user_addresses \
                 WHERE user_id = $1 AND addr = $2 AND last_seen >= $3",
            )
            .bind(user_id)
            .bind(addr)
            .bind(since)
            .fetch_optional(pool)
            .await.map_err(db)?
        });
        Ok(found.is_some())
    }

    /// Forgets addresses last seen before `before` (unix seconds); returns how many.
    async fn prune_user_addresses(&self, before: i64) -> Result<u64, StoreError> {
        let n = dispatch!(self, pool => {
            sqlx::query("DELETE FROM user_addresses WHERE last_seen < $1")
                .bind(before)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(n)
    }
}
