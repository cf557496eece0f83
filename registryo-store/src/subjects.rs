//! Deleting a user or a group together with the rules that name it (one transaction).

use crate::error::db;
use crate::store::{WritePool, now};
use crate::{Store, StoreError};

/// A user or a group, for [`Store::delete_subject`].
#[derive(Clone, Copy)]
pub(crate) enum SubjectTable {
    Users,
    Groups,
}

impl Store {
    /// Deletes a user or a group and, in the same transaction, every ACL rule that names it
    /// (`user:NAME` / `group:NAME`, without regard to case), bumping the policy revision, and
    /// writes the audit events made of the rules removed (by id). Returns those rules;
    /// [`StoreError::NotFound`] if there is no such row.
    pub(crate) async fn delete_subject(
        &self,
        table: SubjectTable,
        id: i64,
        audit: registryo_core::storage::Audit<'_, [crate::AclRule]>,
    ) -> Result<Vec<crate::AclRule>, StoreError> {
        let (select, delete, kind) = match table {
            SubjectTable::Users => (
                "SELECT username FROM users WHERE id = $1",
                "DELETE FROM users WHERE id = $1",
                "user",
            ),
            SubjectTable::Groups => (
                "SELECT name FROM groups WHERE id = $1",
                "DELETE FROM groups WHERE id = $1",
                "group",
            ),
        };
        let now = now();
        let removed = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let name: Option<String> = sqlx::query_scalar(select)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await.map_err(db)?;
            let Some(name) = name else {
                return Err(StoreError::NotFound(format!("{kind} {id}")));
            };
            let rev = bump_revision!(tx, now);
            match table {
                SubjectTable::Users => {
                    log_change!(tx, rev, now, "user", id);
                }
                // The members lose the group: each is a changed user.
                SubjectTable::Groups => {
                    sqlx::query(
                        "INSERT INTO policy_changes (revision, kind, ref_id, at) \
                         SELECT $1, 'user', user_id, $2 FROM group_members WHERE group_id = $3",
                    )
                    .bind(rev)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await.map_err(db)?;
                }
            }
            let removed = sqlx::query_as::<_, crate::rows::AclRuleRow>(
                "DELETE FROM acl_rules WHERE lower(subject) = lower($1) \
                 RETURNING id, subject, pattern, actions, created_at, created_by",
            )
            .bind(format!("{kind}:{name}"))
            .fetch_all(&mut *tx)
            .await.map_err(db)?;
            let mut removed: Vec<crate::AclRule> = removed.into_iter().map(Into::into).collect();
            removed.sort_by_key(|r| r.id);
            for rule in &removed {
                log_change!(tx, rev, now, "rule", rule.id);
            }
            sqlx::query(delete).bind(id).execute(&mut *tx).await.map_err(db)?;
            write_audit!(tx, now, audit, removed.as_slice());
            if matches!(table, SubjectTable::Users) {
                // Its refresh tokens went with it.
                bump_logins!(tx, now);
            }
            tx.commit().await.map_err(db)?;
            removed
        });
        Ok(removed)
    }
}
