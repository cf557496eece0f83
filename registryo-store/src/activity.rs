//! The registry's activity: the events of its notifications, each recorded once (unique on
//! the registry's id; a pull's id remembered for a day in `registry_pull_ids`), pulls counted
//! per (UTC day, actor, repository).

use async_trait::async_trait;
use registryo_core::storage::{
    ActivityQuery, EventsRecorded, NewRegistryEvent, RegistryEvent, RegistryEventStore,
};

use crate::error::db;
use crate::rows::{Model, RegistryEventRow};
use crate::store::{WritePool, check_text};
use crate::{Store, StoreError};

/// The columns of a [`RegistryEventRow`].
const COLUMNS: &str = "id, event_id, at, action, subject, repository, from_repository, tag, \
                       digest, media_type, size, actor, remote_addr, user_agent, audit_id, count";

/// The columns an event is inserted with (then `pull_key` for a pull).
const INSERT_COLUMNS: &str = "event_id, at, action, subject, repository, from_repository, tag, \
                              digest, media_type, size, actor, remote_addr, user_agent, audit_id, count";

/// The page size when [`ActivityQuery::limit`] is 0.
const DEFAULT_PAGE: u32 = 100;
/// The largest page.
const MAX_PAGE: u32 = 1000;

/// Refuses an event the store does not take: empty or over-long fields.
fn check(e: &NewRegistryEvent) -> Result<(), StoreError> {
    check_text("event id", &e.event_id, 255)?;
    check_text("event repository", &e.repository, 255)?;
    let known = ["push", "pull", "mount", "delete"].contains(&e.action.as_str())
        && ["manifest", "blob", "tag", "repository"].contains(&e.subject.as_str());
    if !known {
        return Err(StoreError::Invalid(format!(
            "event action {:?} on {:?} is not one the store keeps",
            e.action, e.subject
        )));
    }
    let fields = [
        ("event source repository", &e.from_repository, 255),
        ("event tag", &e.tag, 128),
        ("event digest", &e.digest, 255),
        ("event media type", &e.media_type, 255),
        ("event actor", &e.actor, 255),
        ("event address", &e.remote_addr, 255),
        ("event user agent", &e.user_agent, 255),
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

/// The key of a pull's day row: the UTC day, the actor and the repository.
fn pull_key(e: &NewRegistryEvent) -> String {
    format!(
        "{}/{}/{}",
        e.at.div_euclid(86_400),
        e.actor.as_deref().unwrap_or(""),
        e.repository
    )
}

#[async_trait]
impl RegistryEventStore for Store {
    async fn record_registry_events(
        &self,
        events: &[NewRegistryEvent],
    ) -> Result<EventsRecorded, StoreError> {
        for e in events {
            check(e)?;
        }
        let now = crate::store::now();
        let mut done = EventsRecorded::default();
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            for e in events {
                let new = if e.is_pull() {
                    // A pull adds to its day's row: the manifests pulled, the bytes, and the
                    // details of the latest manifest pull (a blob's leave them); its id is
                    // remembered apart (a day) so that a redelivery counts once.
                    let new = sqlx::query(
                        "INSERT INTO registry_pull_ids (event_id, at) VALUES ($1, $2) \
                         ON CONFLICT (event_id) DO NOTHING",
                    )
                    .bind(&e.event_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
                    if new > 0 {
                        sqlx::query(&format!(
                            "INSERT INTO registry_events ({INSERT_COLUMNS}, pull_key) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                             ON CONFLICT (pull_key) DO UPDATE SET \
                             count = registry_events.count + excluded.count, \
                             size = COALESCE(registry_events.size, 0) + COALESCE(excluded.size, 0), \
                             at = CASE WHEN excluded.at > registry_events.at THEN excluded.at ELSE registry_events.at END, \
                             subject = CASE WHEN excluded.count > 0 THEN excluded.subject ELSE registry_events.subject END, \
                             tag = CASE WHEN excluded.count > 0 THEN excluded.tag ELSE registry_events.tag END, \
                             digest = CASE WHEN excluded.count > 0 THEN excluded.digest ELSE registry_events.digest END, \
                             media_type = CASE WHEN excluded.count > 0 THEN excluded.media_type ELSE registry_events.media_type END, \
                             remote_addr = COALESCE(excluded.remote_addr, registry_events.remote_addr), \
                             user_agent = COALESCE(excluded.user_agent, registry_events.user_agent)"
                        ))
                        .bind(&e.event_id)
                        .bind(e.at)
                        .bind(&e.action)
                        .bind(&e.subject)
                        .bind(&e.repository)
                        .bind(e.from_repository.as_deref())
                        .bind(e.tag.as_deref())
                        .bind(e.digest.as_deref())
                        .bind(e.media_type.as_deref())
                        .bind(e.size)
                        .bind(e.actor.as_deref())
                        .bind(e.remote_addr.as_deref())
                        .bind(e.user_agent.as_deref())
                        .bind(e.audit_id)
                        .bind(i64::from(e.subject == "manifest"))
                        .bind(pull_key(e))
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    }
                    new
                } else {
                    // Every other event is a row of its own, unique on its id.
                    sqlx::query(&format!(
                        "INSERT INTO registry_events ({INSERT_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1) \
                         ON CONFLICT (event_id) DO NOTHING"
                    ))
                    .bind(&e.event_id)
                    .bind(e.at)
                    .bind(&e.action)
                    .bind(&e.subject)
                    .bind(&e.repository)
                    .bind(e.from_repository.as_deref())
                    .bind(e.tag.as_deref())
                    .bind(e.digest.as_deref())
                    .bind(e.media_type.as_deref())
                    .bind(e.size)
                    .bind(e.actor.as_deref())
                    .bind(e.remote_addr.as_deref())
                    .bind(e.user_agent.as_deref())
                    .bind(e.audit_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected()
                };
                if new == 0 {
                    done.duplicates += 1;
                } else {
                    done.recorded += 1;
                }
            }
            tx.commit().await.map_err(db)?;
        });
        Ok(done)
    }

    async fn list_registry_events(
        &self,
        q: &ActivityQuery,
    ) -> Result<Vec<RegistryEvent>, StoreError> {
        let limit = match q.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        // An empty actor asks for anonymous events (stored as NULL).
        let anonymous = q.actor.as_deref() == Some("");
        let actor = q.actor.as_deref().filter(|a| !a.is_empty());
        let sql = format!(
            "SELECT {COLUMNS} FROM registry_events \
             WHERE ($1 IS NULL OR repository = $1) AND ($2 IS NULL OR actor = $2) \
             AND ($3 = 0 OR actor IS NULL) AND ($4 IS NULL OR action = $4) \
             AND ($5 IS NULL OR tag = $5) AND ($6 IS NULL OR at >= $6) \
             AND ($7 IS NULL OR at < $7) AND ($8 IS NULL OR id < $8) \
             ORDER BY id DESC LIMIT $9"
        );
        let events = dispatch!(self, pool => {
            sqlx::query_as::<_, RegistryEventRow>(&sql)
                .bind(q.repository.as_deref())
                .bind(actor)
                .bind(i64::from(anonymous))
                .bind(q.action.as_deref())
                .bind(q.tag.as_deref())
                .bind(q.since)
                .bind(q.until)
                .bind(q.before_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await.map_err(db)?.model()
        });
        Ok(events)
    }

    async fn latest_tag_pushes(
        &self,
        repository: &str,
        limit: u32,
    ) -> Result<Vec<RegistryEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM registry_events WHERE id IN \
             (SELECT MAX(id) FROM registry_events \
              WHERE repository = $1 AND action = 'push' AND tag IS NOT NULL GROUP BY tag) \
             ORDER BY id DESC LIMIT $2"
        );
        let events = dispatch!(self, pool => {
            sqlx::query_as::<_, RegistryEventRow>(&sql)
                .bind(repository)
                .bind(i64::from(limit.clamp(1, MAX_PAGE * 10)))
                .fetch_all(pool)
                .await.map_err(db)?.model()
        });
        Ok(events)
    }

    async fn prune_registry_events(
        &self,
        before: i64,
        keep: u64,
        ids_before: i64,
    ) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let removed = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let old = sqlx::query("DELETE FROM registry_events WHERE at < $1")
                .bind(before)
                .execute(&mut *tx)
                .await.map_err(db)?
                .rows_affected();
            let over = sqlx::query(
                "DELETE FROM registry_events WHERE id <= \
                 (SELECT id FROM registry_events ORDER BY id DESC LIMIT 1 OFFSET $1)",
            )
            .bind(keep)
            .execute(&mut *tx)
            .await.map_err(db)?
            .rows_affected();
            sqlx::query("DELETE FROM registry_pull_ids WHERE at < $1")
                .bind(ids_before)
                .execute(&mut *tx)
                .await.map_err(db)?;
            tx.commit().await.map_err(db)?;
            old + over
        });
        Ok(removed)
    }
}
