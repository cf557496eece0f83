//! Users: accounts, passwords, admin and disabled flags.

use crate::error::db;
use crate::rows::{Model, UserRow};
use crate::store::{WritePool, check_text, now};
use crate::subjects::SubjectTable;
use crate::{AclRule, LoginsEnded, NewUser, PasswordChange, Store, StoreError, User, UserUpdate};
use async_trait::async_trait;
use registryo_core::storage::{Audit, UserStore};
use registryo_core::storage::{ListQuery, Page};

/// The columns of [`User`], in a `SELECT` or `RETURNING` list.
macro_rules! user_columns {
    () => {
        "id, username, password_hash, kind, is_admin, disabled, first_name, last_name, email, \
         expires_at, created_at, updated_at, password_changed_at"
    };
}
pub(crate) use user_columns;

fn user_missing(id: i64) -> StoreError {
    StoreError::NotFound(format!("user {id}"))
}

#[async_trait]
impl UserStore for Store {
    /// Creates an account. [`StoreError::Conflict`] if the username is taken, also in
    /// another case (`Admin` beside `admin`). The audit events are written in the same
    /// transaction.
    async fn create_user(&self, new: &NewUser, audit: Audit<'_, User>) -> Result<User, StoreError> {
        let now = now();
        let password_changed_at = new.password_hash.as_ref().map(|_| now);
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let user = sqlx::query_as::<_, UserRow>(concat!(
                "INSERT INTO users (username, password_hash, kind, is_admin, disabled, first_name, \
                 last_name, email, expires_at, created_at, updated_at, password_changed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING ",
                user_columns!()
            ))
            .bind(new.username.as_str())
            .bind(new.password_hash.as_deref())
            .bind(new.kind.as_str())
            .bind(new.is_admin)
            .bind(false)
            .bind(&new.first_name)
            .bind(&new.last_name)
            .bind(new.email.as_deref())
            .bind(new.expires_at)
            .bind(now)
            .bind(password_changed_at)
            .fetch_one(&mut *tx)
            .await.map_err(db)?.model();
            write_audit!(tx, now, audit, &user);
            let rev = bump_revision!(tx, now);
            log_change!(tx, rev, now, "user", user.id);
            tx.commit().await.map_err(db)?;
            Ok::<_, StoreError>(user)
        }.await);
        result.map_err(|e| {
            e.context(
                || format!("user {:?}", new.username),
                || format!("user {:?}", new.username),
            )
        })
    }

    /// The account with this id.
    async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        let user = dispatch!(self, pool => {
            sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await.map_err(db)?.model()
        });
        user.ok_or_else(|| user_missing(id))
    }

    /// The account with this username, without regard to case.
    async fn get_user_by_name(&self, username: &str) -> Result<User, StoreError> {
        let user = dispatch!(self, pool => {
            sqlx::query_as::<_, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users WHERE lower(username) = lower($1)"
            ))
            .bind(username)
            .fetch_optional(pool)
            .await.map_err(db)?.model()
        });
        user.ok_or_else(|| StoreError::NotFound(format!("user {username:?}")))
    }

    /// Every account, by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let users = dispatch!(self, pool => {
            sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users ORDER BY username"))
                .fetch_all(pool)
                .await.map_err(db)?.model()
        });
        Ok(users)
    }

    /// A page of users by username; the filter looks in the username, the names and the
    /// e-mail address.
    async fn list_users_page(&self, query: &ListQuery) -> Result<Page<User>, StoreError> {
        let size = query.page_size();
        let like = query.like_pattern();
        let after = query.after.clone().unwrap_or_default();
        let rows = dispatch!(self, pool => {
            sqlx::query_as::<_, UserRow>(concat!(
                // One LIKE over the four fields joined by a tab, which the filter (one line of
                // printable text) cannot span.
                "SELECT ", user_columns!(), " FROM users WHERE username > $1 AND ($2 = '%%' \
                 OR lower(username || '\t' || first_name || '\t' || last_name || '\t' \
                 || coalesce(email, '')) LIKE $2 ESCAPE '\\') ORDER BY username LIMIT $3"
            ))
            .bind(&after)
            .bind(&like)
            .bind(i64::from(size) + 1)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(Page::from_rows(rows, size, |u: &User| u.username.clone()))
    }

    /// How many accounts exist (e.g. to create the first administrator).
    async fn count_users(&self) -> Result<i64, StoreError> {
        let count: i64 = dispatch!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await.map_err(db)?
        });
        Ok(count)
    }

    /// Changes the fields set in `update` in one transaction and returns the new record.
    /// Disabling deletes the account's web sessions in the same transaction, so enabling it
    /// again never revives them; its refresh tokens are kept but not honoured while it is
    /// disabled (and the login revision is bumped). Bumps the policy revision (expiry, the flags and the kind decide access).
    /// The audit events are written in the same transaction; none for a missing account.
    async fn update_user(
        &self,
        id: i64,
        update: &UserUpdate,
        audit: Audit<'_, User>,
    ) -> Result<User, StoreError> {
        let now = now();
        let user = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let user = sqlx::query_as::<_, UserRow>(concat!(
                "UPDATE users SET \
                 first_name = CASE WHEN $2 THEN $3 ELSE first_name END, \
                 last_name = CASE WHEN $4 THEN $5 ELSE last_name END, \
                 email = CASE WHEN $6 THEN $7 ELSE email END, \
                 expires_at = CASE WHEN $8 THEN $9 ELSE expires_at END, \
                 kind = CASE WHEN $10 THEN $11 ELSE kind END, \
                 disabled = CASE WHEN $12 THEN $13 ELSE disabled END, \
                 is_admin = CASE WHEN $14 THEN $15 ELSE is_admin END, \
                 updated_at = $16 \
                 WHERE id = $1 RETURNING ",
                user_columns!()
            ))
            .bind(id)
            .bind(update.first_name.is_some())
            .bind(update.first_name.as_deref())
            .bind(update.last_name.is_some())
            .bind(update.last_name.as_deref())
            .bind(update.email.is_some())
            .bind(update.email.clone().flatten())
            .bind(update.expires_at.is_some())
            .bind(update.expires_at.flatten())
            .bind(update.kind.is_some())
            .bind(update.kind.map(|k| k.as_str()))
            .bind(update.disabled.is_some())
            .bind(update.disabled.unwrap_or(false))
            .bind(update.is_admin.is_some())
            .bind(update.is_admin.unwrap_or(false))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await.map_err(db)?.model();
            if let Some(user) = &user {
                write_audit!(tx, now, audit, user);
                if update.disabled == Some(true) {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await.map_err(db)?;
                    bump_logins!(tx, now);
                }
                let rev = bump_revision!(tx, now);
                log_change!(tx, rev, now, "user", id);
                tx.commit().await.map_err(db)?;
            }
            user
        });
        user.ok_or_else(|| user_missing(id))
    }

    /// Sets (or, with `None`, removes) the argon2id PHC string and the password change time,
    /// and in the same transaction ends the user's other logins: their unused password reset
    /// and invitation tokens, their web sessions but `change.keep_session`, and their docker
    /// logins unless `change.keep_docker_logins`. Bumps the policy revision (so servers forget
    /// remembered credentials of the user). Every password change, by any path, goes here.
    /// The audit events, made of what it ended, are written in the same transaction.
    async fn set_password_hash(
        &self,
        id: i64,
        hash: Option<&str>,
        change: &PasswordChange,
        audit: Audit<'_, LoginsEnded>,
    ) -> Result<LoginsEnded, StoreError> {
        if let Some(hash) = hash {
            check_text("password hash", hash, 1024)?;
        }
        let now = now();
        let ended = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let changed = sqlx::query(
                "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await.map_err(db)?
            .rows_affected();
            if changed == 0 {
                return Err(user_missing(id));
            }
            let ended = end_logins!(tx, id, now, change);
            write_audit!(tx, now, audit, &ended);
            // Servers drop remembered credentials when the revision moves.
            let rev = bump_revision!(tx, now);
            log_change!(tx, rev, now, "user", id);
            tx.commit().await.map_err(db)?;
            ended
        });
        Ok(ended)
    }

    /// Deletes an account with its memberships, refresh tokens, sessions and the ACL rules
    /// that name it (`user:NAME`), in one transaction, so that an account created later with
    /// the same name inherits nothing. Bumps the policy revision. Returns the rules removed.
    /// Audit events keep the username. The audit events, made of the rules removed, are
    /// written in the same transaction.
    async fn delete_user(
        &self,
        id: i64,
        audit: Audit<'_, [AclRule]>,
    ) -> Result<Vec<AclRule>, StoreError> {
        self.delete_subject(SubjectTable::Users, id, audit).await
    }

    /// Creates accounts in one transaction: all or none. [`StoreError::Conflict`] names the
    /// first username taken (also in another case, or twice in `new`). One policy revision
    /// for them all; the audit events are written in the same transaction.
    async fn create_users(
        &self,
        new: &[NewUser],
        audit: Audit<'_, [User]>,
    ) -> Result<Vec<User>, StoreError> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let now = now();
        dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let rev = bump_revision!(tx, now);
            let mut users = Vec::with_capacity(new.len());
            for nu in new {
                let password_changed_at = nu.password_hash.as_ref().map(|_| now);
                let user = sqlx::query_as::<_, UserRow>(concat!(
                    "INSERT INTO users (username, password_hash, kind, is_admin, disabled, \
                     first_name, last_name, email, expires_at, created_at, updated_at, \
                     password_changed_at) \
                     VALUES ($1, $2, $3, $4, FALSE, $5, $6, $7, $8, $9, $9, $10) RETURNING ",
                    user_columns!()
                ))
                .bind(nu.username.as_str())
                .bind(nu.password_hash.as_deref())
                .bind(nu.kind.as_str())
                .bind(nu.is_admin)
                .bind(&nu.first_name)
                .bind(&nu.last_name)
                .bind(nu.email.as_deref())
                .bind(nu.expires_at)
                .bind(now)
                .bind(password_changed_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)
                .map_err(|e| {
                    e.context(
                        || format!("user {:?}", nu.username),
                        || format!("user {:?}", nu.username),
                    )
                })?
                .model();
                log_change!(tx, rev, now, "user", user.id);
                users.push(user);
            }
            write_audit!(tx, now, audit, users.as_slice());
            tx.commit().await.map_err(db)?;
            Ok(users)
        })
    }

    /// The accounts whose e-mail address is `email`, compared without regard to ASCII case.
    async fn find_users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        let users = dispatch!(self, pool => {
            sqlx::query_as::<_, UserRow>(concat!(
                "SELECT ", user_columns!(), " FROM users \
                 WHERE email IS NOT NULL AND LOWER(email) = LOWER($1) ORDER BY username"
            ))
            .bind(email)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(users)
    }
}
