//! Password reset and invitation tokens, stored by their SHA-256 hash.
//!
//! A token is honoured once ([`Store::redeem_password_token`] marks it used in the same
//! transaction that sets the password), until its expiry, and only while its user is neither
//! disabled nor expired. Every change of a password ([`Store::set_password_hash`], by any
//! path) deletes the user's unused tokens in the same transaction.

use crate::error::db;
use crate::rows::{Model, PasswordTokenRow, UserRow};
use crate::store::{WritePool, check_hash, now};
use crate::users::user_columns;
use crate::{
    LoginsEnded, NewPasswordToken, PasswordChange, PasswordToken, Store, StoreError, User,
};
use async_trait::async_trait;
use registryo_core::storage::{Audit, PasswordTokenStore};

const TOKEN_COLUMNS: &str = "id, user_id, token_hash, purpose, created_at, expires_at, used_at";

#[async_trait]
impl PasswordTokenStore for Store {
    /// Stores a new password token. [`StoreError::Invalid`] if the hash is not 64 hex digits,
    /// [`StoreError::NotFound`] if the user does not exist, [`StoreError::Conflict`] if the
    /// hash is already stored. The audit events are written in the same transaction.
    async fn insert_password_token(
        &self,
        new: &NewPasswordToken,
        audit: Audit<'_, PasswordToken>,
    ) -> Result<PasswordToken, StoreError> {
        let hash = check_hash("password token hash", &new.token_hash)?;
        let now = now();
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let token = sqlx::query_as::<_, PasswordTokenRow>(&format!(
                "INSERT INTO password_tokens (user_id, token_hash, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}"
            ))
            .bind(new.user_id)
            .bind(&hash)
            .bind(new.purpose.as_str())
            .bind(now)
            .bind(new.expires_at)
            .fetch_one(&mut *tx)
            .await.map_err(db)?.model();
            write_audit!(tx, now, audit, &token);
            tx.commit().await.map_err(db)?;
            Ok::<_, StoreError>(token)
        }.await);
        result.map_err(|e| {
            e.context(
                || "password token with this hash".to_owned(),
                || format!("user {}", new.user_id),
            )
        })
    }

    /// The token with this hash and its user, if it may be honoured now: not used, not
    /// expired, and its user is neither disabled nor expired.
    async fn find_password_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(PasswordToken, User)>, StoreError> {
        let hash = check_hash("password token hash", token_hash)?;
        let now = now();
        let found = dispatch!(self, pool => {
            let token = sqlx::query_as::<_, PasswordTokenRow>(&format!(
                "SELECT {TOKEN_COLUMNS} FROM password_tokens \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2"
            ))
            .bind(&hash)
            .bind(now)
            .fetch_optional(pool)
            .await.map_err(db)?.model();
            match token {
                None => None,
                Some(token) => sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ", user_columns!(), " FROM users WHERE id = $1 AND NOT disabled \
                     AND (expires_at IS NULL OR expires_at > $2)"
                ))
                .bind(token.user_id)
                .bind(now)
                .fetch_optional(pool)
                .await.map_err(db)?.model()
                .map(|user| (token, user)),
            }
        });
        Ok(found)
    }

    /// Uses a token: in one transaction, checks it as [`Store::find_password_token`] does,
    /// marks it used, sets the user's password hash (and change time), ends the user's other
    /// logins as [`Store::set_password_hash`] does (web sessions, unused tokens, and docker
    /// logins unless `keep_docker_logins`) and bumps the policy revision. `None` (and no change) when the
    /// token may not be honoured, also when another request used it first. The audit events,
    /// made of the token, its user and what the change ended, are written in the same
    /// transaction.
    async fn redeem_password_token(
        &self,
        token_hash: &str,
        password_hash: &str,
        keep_docker_logins: bool,
        audit: Audit<'_, (PasswordToken, User, LoginsEnded)>,
    ) -> Result<Option<(PasswordToken, User, LoginsEnded)>, StoreError> {
        let hash = check_hash("password token hash", token_hash)?;
        crate::store::check_text("password hash", password_hash, 1024)?;
        let now = now();
        dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let token = sqlx::query_as::<_, PasswordTokenRow>(&format!(
                "UPDATE password_tokens SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                 RETURNING {TOKEN_COLUMNS}"
            ))
            .bind(&hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await.map_err(db)?.model();
            let Some(token) = token else {
                return Ok(None);
            };
            let user = sqlx::query_as::<_, UserRow>(concat!(
                "UPDATE users SET password_hash = $3, password_changed_at = $2, updated_at = $2 \
                 WHERE id = $1 AND NOT disabled AND (expires_at IS NULL OR expires_at > $2) \
                 RETURNING ", user_columns!()
            ))
            .bind(token.user_id)
            .bind(now)
            .bind(password_hash)
            .fetch_optional(&mut *tx)
            .await.map_err(db)?.model();
            let Some(user) = user else {
                // Dropping the transaction rolls the token back to unused.
                return Ok(None);
            };
            let change = PasswordChange {
                keep_session: None,
                keep_docker_logins,
            };
            let ended = end_logins!(tx, user.id, now, change);
            let redeemed = (token, user, ended);
            write_audit!(tx, now, audit, &redeemed);
            let rev = bump_revision!(tx, now);
            log_change!(tx, rev, now, "user", redeemed.1.id);
            tx.commit().await.map_err(db)?;
            Ok::<_, StoreError>(Some(redeemed))
        }.await)
    }

    /// How many password tokens were made for a user since `since` (unix seconds), used or
    /// not: the per-account limit on reset mails.
    async fn count_password_tokens_since(
        &self,
        user_id: i64,
        since: i64,
    ) -> Result<i64, StoreError> {
        let count: i64 = dispatch!(self, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM password_tokens WHERE user_id = $1 AND created_at >= $2",
            )
            .bind(user_id)
            .bind(since)
            .fetch_one(pool)
            .await.map_err(db)?
        });
        Ok(count)
    }

    /// Every token of a user, used ones included, oldest first.
    async fn list_password_tokens(&self, user_id: i64) -> Result<Vec<PasswordToken>, StoreError> {
        let tokens = dispatch!(self, pool => {
            sqlx::query_as::<_, PasswordTokenRow>(&format!(
                "SELECT {TOKEN_COLUMNS} FROM password_tokens WHERE user_id = $1 ORDER BY id"
            ))
            .bind(user_id)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(tokens)
    }

    /// Deletes the tokens that expired before `before` (unix seconds); returns how many.
    async fn purge_password_tokens(&self, before: i64) -> Result<u64, StoreError> {
        let changed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM password_tokens WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(changed)
    }
}
