//! Groups and memberships.

use crate::error::db;
use crate::rows::{GroupRow, Model, UserRow};
use async_trait::async_trait;
use registryo_core::names::GroupName;
use registryo_core::storage::{Audit, GroupStore, ListQuery, Page};

use crate::store::{WritePool, now};
use crate::subjects::SubjectTable;
use crate::users::user_columns;
use crate::{AclRule, Group, Store, StoreError, User};

fn group_missing(id: i64) -> StoreError {
    StoreError::NotFound(format!("group {id}"))
}

#[async_trait]
impl GroupStore for Store {
    /// Creates a group. [`StoreError::Conflict`] if the name is taken, also in another case.
    /// Bumps the policy revision; the audit events are written in the same transaction.
    async fn create_group(
        &self,
        name: &GroupName,
        audit: Audit<'_, Group>,
    ) -> Result<Group, StoreError> {
        let now = now();
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let group = sqlx::query_as::<_, GroupRow>(
                "INSERT INTO groups (name, created_at) VALUES ($1, $2) \
                 RETURNING id, name, created_at",
            )
            .bind(name.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await.map_err(db)?.model();
            write_audit!(tx, now, audit, &group);
            bump_revision!(tx, now);
            tx.commit().await.map_err(db)?;
            Ok::<_, StoreError>(group)
        }.await);
        result.map_err(|e| e.context(|| format!("group {name:?}"), || format!("group {name:?}")))
    }

    /// The group with this id.
    async fn get_group(&self, id: i64) -> Result<Group, StoreError> {
        let group = dispatch!(self, pool => {
            sqlx::query_as::<_, GroupRow>("SELECT id, name, created_at FROM groups WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await.map_err(db)?.model()
        });
        group.ok_or_else(|| group_missing(id))
    }

    /// The group with this name, without regard to case.
    async fn get_group_by_name(&self, name: &str) -> Result<Group, StoreError> {
        let group = dispatch!(self, pool => {
            sqlx::query_as::<_, GroupRow>(
                "SELECT id, name, created_at FROM groups WHERE lower(name) = lower($1)",
            )
                .bind(name)
                .fetch_optional(pool)
                .await.map_err(db)?.model()
        });
        group.ok_or_else(|| StoreError::NotFound(format!("group {name:?}")))
    }

    /// Every group, by name.
    async fn list_groups(&self) -> Result<Vec<Group>, StoreError> {
        let groups = dispatch!(self, pool => {
            sqlx::query_as::<_, GroupRow>("SELECT id, name, created_at FROM groups ORDER BY name")
                .fetch_all(pool)
                .await.map_err(db)?.model()
        });
        Ok(groups)
    }

    /// How many groups exist.
    async fn count_groups(&self) -> Result<i64, StoreError> {
        let count: i64 = dispatch!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM groups").fetch_one(pool).await.map_err(db)?
        });
        Ok(count)
    }

    /// A page of groups by name.
    async fn list_groups_page(&self, query: &ListQuery) -> Result<Page<Group>, StoreError> {
        let size = query.page_size();
        let like = query.like_pattern();
        let after = query.after.clone().unwrap_or_default();
        let rows = dispatch!(self, pool => {
            sqlx::query_as::<_, GroupRow>(
                "SELECT id, name, created_at FROM groups WHERE name > $1 \
                 AND ($2 = '%%' OR lower(name) LIKE $2 ESCAPE '\\') ORDER BY name LIMIT $3",
            )
            .bind(&after)
            .bind(&like)
            .bind(i64::from(size) + 1)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(Page::from_rows(rows, size, |g: &Group| g.name.to_string()))
    }

    /// Deletes a group with its memberships and the ACL rules that name it (`group:NAME`),
    /// in one transaction, so that a group created later with the same name inherits nothing.
    /// Bumps the policy revision. Returns the rules removed; the audit events, made of them,
    /// are written in the same transaction.
    async fn delete_group(
        &self,
        id: i64,
        audit: Audit<'_, [AclRule]>,
    ) -> Result<Vec<AclRule>, StoreError> {
        self.delete_subject(SubjectTable::Groups, id, audit).await
    }

    /// Adds a user to a group: `true` if added, `false` if already a member.
    /// [`StoreError::NotFound`] if the group or the user does not exist. Bumps the policy
    /// revision when it changes something. The audit events, made of that answer, are written
    /// in the same transaction.
    async fn add_group_member(
        &self,
        group_id: i64,
        user_id: i64,
        audit: Audit<'_, bool>,
    ) -> Result<bool, StoreError> {
        let now = now();
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let changed = sqlx::query(
                "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT (group_id, user_id) DO NOTHING",
            )
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await.map_err(db)?
            .rows_affected();
            let audited = write_audit!(tx, now, audit, &(changed > 0));
            if changed > 0 {
                let rev = bump_revision!(tx, now);
                log_change!(tx, rev, now, "user", user_id);
            }
            if changed > 0 || audited > 0 {
                tx.commit().await.map_err(db)?;
            }
            Ok::<_, StoreError>(changed > 0)
        }.await);
        result.map_err(|e| {
            e.context(
                || format!("membership of user {user_id} in group {group_id}"),
                || format!("group {group_id} or user {user_id}"),
            )
        })
    }

    /// Removes a user from a group: `true` if removed, `false` if not a member. Bumps the
    /// policy revision when it changes something. The audit events, made of that answer, are
    /// written in the same transaction.
    async fn remove_group_member(
        &self,
        group_id: i64,
        user_id: i64,
        audit: Audit<'_, bool>,
    ) -> Result<bool, StoreError> {
        let now = now();
        let changed = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let changed = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await.map_err(db)?
                .rows_affected();
            let audited = write_audit!(tx, now, audit, &(changed > 0));
            if changed > 0 {
                let rev = bump_revision!(tx, now);
                log_change!(tx, rev, now, "user", user_id);
            }
            if changed > 0 || audited > 0 {
                tx.commit().await.map_err(db)?;
            }
            changed
        });
        Ok(changed > 0)
    }

    /// The groups a user belongs to, by name.
    async fn groups_of_user(&self, user_id: i64) -> Result<Vec<Group>, StoreError> {
        let groups = dispatch!(self, pool => {
            sqlx::query_as::<_, GroupRow>(
                "SELECT g.id, g.name, g.created_at FROM groups g \
                 JOIN group_members m ON m.group_id = g.id \
                 WHERE m.user_id = $1 ORDER BY g.name",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(groups)
    }

    /// The members of a group, by username.
    async fn group_members(&self, group_id: i64) -> Result<Vec<User>, StoreError> {
        let users = dispatch!(self, pool => {
            sqlx::query_as::<_, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users \
                 WHERE id IN (SELECT user_id FROM group_members WHERE group_id = $1) \
                 ORDER BY username"
            ))
            .bind(group_id)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(users)
    }

    /// Every membership as `(group name, username)` pairs, by group then user: what an ACL
    /// compiler needs to expand `group:NAME` subjects.
    async fn list_memberships(&self) -> Result<Vec<(String, String)>, StoreError> {
        let pairs = dispatch!(self, pool => {
            sqlx::query_as::<_, (String, String)>(
                "SELECT g.name, u.username FROM group_members m \
                 JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id \
                 ORDER BY g.name, u.username",
            )
            .fetch_all(pool)
            .await.map_err(db)?
        });
        Ok(pairs)
    }
}
