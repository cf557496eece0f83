//! The policy change log: which rules and users each policy revision touched.
//!
//! Every write that bumps the policy revision records, in its transaction, the ids it touched
//! (`policy_changes`). The revision's row is locked from the bump to the commit, so changes
//! commit in revision order and a reader that saw revision `R` has seen every change up to
//! `R`: reading the log after its last revision up to the current one misses nothing. A
//! reader re-reads the current rows of the touched ids, so a row newer than `R` (a change
//! that committed between the two reads) is harmless: it is read again at the next poll.

use async_trait::async_trait;
use registryo_core::storage::{PolicyDelta, PolicyLog};

use crate::error::db;
use crate::rows::{AclRuleRow, Model, UserRow};
use crate::store::WritePool;
use crate::users::user_columns;
use crate::{Store, StoreError};

/// The ids of a kind touched after `$1` up to `$2`.
macro_rules! touched {
    ($kind:literal) => {
        concat!(
            "SELECT ref_id FROM policy_changes WHERE kind = '",
            $kind,
            "' AND revision > $1 AND revision <= $2"
        )
    };
}

#[async_trait]
impl PolicyLog for Store {
    /// What changed after `since`: the touched ids and their current rows, or `None` when the
    /// log was pruned past `since`, `since` is ahead of the store, or more than `max_changes`
    /// rows were logged (a rebuild is then cheaper).
    async fn policy_changes(
        &self,
        since: i64,
        max_changes: u64,
    ) -> Result<Option<PolicyDelta>, StoreError> {
        dispatch!(self, pool => {
            let (revision, floor): (i64, i64) = sqlx::query_as(
                "SELECT revision, log_floor FROM policy_revision WHERE id = 1",
            )
            .fetch_one(pool)
            .await.map_err(db)?;
            if since < floor || since > revision {
                return Ok(None);
            }
            let mut delta = PolicyDelta { revision, ..PolicyDelta::default() };
            if since == revision {
                return Ok(Some(delta));
            }
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM policy_changes WHERE revision > $1 AND revision <= $2",
            )
            .bind(since)
            .bind(revision)
            .fetch_one(pool)
            .await.map_err(db)?;
            if u64::try_from(count).unwrap_or(u64::MAX) > max_changes {
                return Ok(None);
            }
            let ids = |kind: &'static str| {
                sqlx::query_scalar::<_, i64>(if kind == "rule" { touched!("rule") } else { touched!("user") })
                    .bind(since)
                    .bind(revision)
            };
            let mut rule_ids = ids("rule").fetch_all(pool).await.map_err(db)?;
            rule_ids.sort_unstable();
            rule_ids.dedup();
            let mut user_ids = ids("user").fetch_all(pool).await.map_err(db)?;
            user_ids.sort_unstable();
            user_ids.dedup();
            delta.rules = sqlx::query_as::<_, AclRuleRow>(concat!(
                "SELECT id, subject, pattern, actions, created_at, created_by FROM acl_rules \
                 WHERE id IN (", touched!("rule"), ") ORDER BY id"
            ))
            .bind(since)
            .bind(revision)
            .fetch_all(pool)
            .await.map_err(db)?.model();
            delta.users = sqlx::query_as::<_, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users WHERE id IN (", touched!("user"), ")"
            ))
            .bind(since)
            .bind(revision)
            .fetch_all(pool)
            .await.map_err(db)?.model();
            delta.memberships = sqlx::query_as::<_, (i64, String)>(concat!(
                "SELECT m.user_id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id \
                 WHERE m.user_id IN (", touched!("user"), ") ORDER BY g.name"
            ))
            .bind(since)
            .bind(revision)
            .fetch_all(pool)
            .await.map_err(db)?;
            delta.rule_ids = rule_ids;
            delta.user_ids = user_ids;
            Ok(Some(delta))
        })
    }

    /// Deletes the changes of every revision up to the newest one recorded before `before`,
    /// and moves the log's floor there, in one transaction: how many rows.
    async fn prune_policy_changes(&self, before: i64) -> Result<u64, StoreError> {
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let upto: Option<i64> =
                sqlx::query_scalar("SELECT MAX(revision) FROM policy_changes WHERE at < $1")
                    .bind(before)
                    .fetch_one(&mut *tx)
                    .await.map_err(db)?;
            let Some(upto) = upto else {
                return Ok(0);
            };
            let deleted = sqlx::query("DELETE FROM policy_changes WHERE revision <= $1")
                .bind(upto)
                .execute(&mut *tx)
                .await.map_err(db)?
                .rows_affected();
            sqlx::query(
                "UPDATE policy_revision SET log_floor = CASE WHEN log_floor < $1 THEN $1 \
                 ELSE log_floor END WHERE id = 1",
            )
            .bind(upto)
            .execute(&mut *tx)
            .await.map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(deleted)
        })
    }
}
