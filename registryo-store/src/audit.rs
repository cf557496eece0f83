//! The audit log.

use crate::error::db;
use crate::rows::{AuditEventRow, Model};
use crate::store::{WritePool, check_text, now};
use crate::{AuditEvent, AuditQuery, NewAuditEvent, Store, StoreError};
use async_trait::async_trait;
use registryo_core::storage::AuditLog;

/// The longest actor and client address (bytes).
const MAX_NAME: usize = 255;
/// The longest target (bytes).
const MAX_TARGET: usize = 1024;
/// The longest detail (bytes).
const MAX_DETAIL: usize = 8192;

/// Refuses an event the log does not take: an empty action or one over 255 bytes, an actor
/// or address over 255, a target over 1,024, a detail over 8,192. Every event goes through
/// it: those written alone and those written in a change's transaction.
pub(crate) fn check_event(event: &NewAuditEvent) -> Result<(), StoreError> {
    check_text("audit action", &event.action, 255)?;
    let fields = [
        ("audit actor", &event.actor, MAX_NAME),
        ("audit target", &event.target, MAX_TARGET),
        ("audit detail", &event.detail, MAX_DETAIL),
        ("audit address", &event.remote_addr, MAX_NAME),
    ];
    for (what, value, max) in fields {
        if value.as_ref().is_some_and(|v| v.len() > max) {
            return Err(StoreError::Invalid(format!(
                "{what} is longer than {max} bytes"
            )));
        }
    }
    Ok(())
}

/// The page size when [`AuditQuery::limit`] is 0.
const DEFAULT_PAGE: u32 = 100;
/// The largest page.
const MAX_PAGE: u32 = 1000;

#[async_trait]
impl AuditLog for Store {
    /// Appends an event, timed now; returns it.
    async fn insert_audit_event(&self, event: &NewAuditEvent) -> Result<AuditEvent, StoreError> {
        check_event(event)?;
        let now = now();
        let event = dispatch!(self, pool => {
            sqlx::query_as::<_, AuditEventRow>(
                "INSERT INTO audit_events (at, actor, action, target, detail, remote_addr) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING id, at, actor, action, target, detail, remote_addr, count",
            )
            .bind(now)
            .bind(event.actor.as_deref())
            .bind(&event.action)
            .bind(event.target.as_deref())
            .bind(event.detail.as_deref())
            .bind(event.remote_addr.as_deref())
            .fetch_one(pool)
            .await.map_err(db)?.model()
        });
        Ok(event)
    }

    /// Counts an event into the audit row keyed by `dedup` (created on first use).
    async fn count_audit_event(
        &self,
        event: &NewAuditEvent,
        dedup: &str,
    ) -> Result<(), StoreError> {
        check_event(event)?;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            count_event!(tx, now, event, dedup);
            tx.commit().await.map_err(db)?;
        });
        Ok(())
    }

    /// A page of events, newest first, filtered by actor, action, target prefix and time; pass the last id of a
    /// page as [`AuditQuery::before_id`] to get the next.
    async fn list_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let events = dispatch!(self, pool => {
            sqlx::query_as::<_, AuditEventRow>(
                "SELECT id, at, actor, action, target, detail, remote_addr, count FROM audit_events \
                 WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
                 AND ($3 IS NULL OR id < $3) \
                 AND ($5 IS NULL OR substr(target, 1, length($5)) = $5) \
                 AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(query.actor.as_deref())
            .bind(query.action.as_deref())
            .bind(query.before_id)
            .bind(i64::from(limit))
            .bind(query.target_prefix.as_deref())
            .bind(query.since)
            .bind(query.until)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(events)
    }

    /// Deletes the events older than `before` (unix seconds); returns how many.
    async fn prune_audit_events(&self, before: i64) -> Result<u64, StoreError> {
        let changed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM audit_events WHERE at < $1")
                .bind(before)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(changed)
    }
}
