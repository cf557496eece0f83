//! Groups and memberships.

use crate::store::{WritePool, check_text, now};
use crate::users::user_columns;
use crate::{Group, Store, StoreError, User};

/// The longest group name, in bytes.
const MAX_GROUP_NAME: usize = 255;

fn group_missing(id: i64) -> StoreError {
    StoreError::NotFound(format!("group {id}"))
}

impl Store {
    /// Creates a group. [`StoreError::Conflict`] if the name is taken. Bumps the policy
    /// revision.
    pub async fn create_group(&self, name: &str) -> Result<Group, StoreError> {
        check_text("group name", name, MAX_GROUP_NAME)?;
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(StoreError::Invalid(format!(
                "group name {name:?} contains whitespace or control characters"
            )));
        }
        let now = now();
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let group = sqlx::query_as::<_, Group>(
                "INSERT INTO groups (name, created_at) VALUES ($1, $2) \
                 RETURNING id, name, created_at",
            )
            .bind(name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            bump_revision!(tx, now);
            tx.commit().await?;
            Ok::<_, StoreError>(group)
        }.await);
        result.map_err(|e| e.context(|| format!("group {name:?}"), || format!("group {name:?}")))
    }

    /// The group with this id.
    pub async fn get_group(&self, id: i64) -> Result<Group, StoreError> {
        let group = dispatch!(self, pool => {
            sqlx::query_as::<_, Group>("SELECT id, name, created_at FROM groups WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        group.ok_or_else(|| group_missing(id))
    }

    /// The group with this name (case-sensitive).
    pub async fn get_group_by_name(&self, name: &str) -> Result<Group, StoreError> {
        let group = dispatch!(self, pool => {
            sqlx::query_as::<_, Group>("SELECT id, name, created_at FROM groups WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        group.ok_or_else(|| StoreError::NotFound(format!("group {name:?}")))
    }

    /// Every group, by name.
    pub async fn list_groups(&self) -> Result<Vec<Group>, StoreError> {
        let groups = dispatch!(self, pool => {
            sqlx::query_as::<_, Group>("SELECT id, name, created_at FROM groups ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        Ok(groups)
    }

    /// Deletes a group and its memberships. Bumps the policy revision. ACL rules naming the
    /// group stay (they match nobody until a group of that name exists again).
    pub async fn delete_group(&self, id: i64) -> Result<(), StoreError> {
        let changed = self
            .delete_by_id_bumping_revision("DELETE FROM groups WHERE id = $1", id)
            .await?;
        if changed == 0 {
            return Err(group_missing(id));
        }
        Ok(())
    }

    /// Adds a user to a group: `true` if added, `false` if already a member.
    /// [`StoreError::NotFound`] if the group or the user does not exist. Bumps the policy
    /// revision when it changes something.
    pub async fn add_group_member(&self, group_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let now = now();
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT (group_id, user_id) DO NOTHING",
            )
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed > 0 {
                bump_revision!(tx, now);
                tx.commit().await?;
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
    /// policy revision when it changes something.
    pub async fn remove_group_member(
        &self,
        group_id: i64,
        user_id: i64,
    ) -> Result<bool, StoreError> {
        let now = now();
        let changed = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed > 0 {
                bump_revision!(tx, now);
                tx.commit().await?;
            }
            changed
        });
        Ok(changed > 0)
    }

    /// The groups a user belongs to, by name.
    pub async fn groups_of_user(&self, user_id: i64) -> Result<Vec<Group>, StoreError> {
        let groups = dispatch!(self, pool => {
            sqlx::query_as::<_, Group>(
                "SELECT g.id, g.name, g.created_at FROM groups g \
                 JOIN group_members m ON m.group_id = g.id \
                 WHERE m.user_id = $1 ORDER BY g.name",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(groups)
    }

    /// The members of a group, by username.
    pub async fn group_members(&self, group_id: i64) -> Result<Vec<User>, StoreError> {
        let users = dispatch!(self, pool => {
            sqlx::query_as::<_, User>(concat!(
                "SELECT ", user_columns!(), " FROM users \
                 WHERE id IN (SELECT user_id FROM group_members WHERE group_id = $1) \
                 ORDER BY username"
            ))
            .bind(group_id)
            .fetch_all(pool)
            .await?
        });
        Ok(users)
    }

    /// Every membership as `(group name, username)` pairs, by group then user: what an ACL
    /// compiler needs to expand `group:NAME` subjects.
    pub async fn list_memberships(&self) -> Result<Vec<(String, String)>, StoreError> {
        let pairs = dispatch!(self, pool => {
            sqlx::query_as::<_, (String, String)>(
                "SELECT g.name, u.username FROM group_members m \
                 JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id \
                 ORDER BY g.name, u.username",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(pairs)
    }
}
