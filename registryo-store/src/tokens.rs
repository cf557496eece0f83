//! Refresh tokens, stored by their SHA-256 hash.

use crate::error::db;
use crate::rows::{Model, RefreshTokenRow};
use crate::store::{WritePool, check_hash, check_text, now};
use crate::{
    ActiveRefreshToken, NewRefreshToken, RefreshToken, RefreshTokenUse, Store, StoreError,
};
use async_trait::async_trait;
use registryo_core::storage::{Audit, RefreshTokenStore};

const TOKEN_COLUMNS: &str = "id, user_id, token_hash, client_id, service, created_at, \
     last_used_at, revoked_at, created_addr, last_used_addr";

/// A refresh token joined with its owner.
#[derive(sqlx::FromRow)]
struct ActiveRow {
    #[sqlx(flatten)]
    user: crate::rows::UserRow,
    token_id: i64,
    token_hash: String,
    client_id: String,
    service: String,
    token_created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    created_addr: Option<String>,
    last_used_addr: Option<String>,
}

impl From<ActiveRow> for ActiveRefreshToken {
    fn from(row: ActiveRow) -> Self {
        ActiveRefreshToken {
            token: RefreshToken {
                id: row.token_id,
                user_id: row.user.id,
                token_hash: row.token_hash,
                client_id: row.client_id,
                service: row.service,
                created_at: row.token_created_at,
                last_used_at: row.last_used_at,
                revoked_at: row.revoked_at,
                created_addr: row.created_addr,
                last_used_addr: row.last_used_addr,
            },
            user: row.user.into(),
        }
    }
}

#[async_trait]
impl RefreshTokenStore for Store {
    /// Stores a new refresh token. [`StoreError::Invalid`] if the hash is not 64 hex digits,
    /// [`StoreError::NotFound`] if the user does not exist, [`StoreError::Conflict`] if the
    /// hash is already stored. The audit events are written in the same transaction.
    async fn insert_refresh_token(
        &self,
        new: &NewRefreshToken,
        audit: Audit<'_, RefreshToken>,
    ) -> Result<RefreshToken, StoreError> {
        let hash = check_hash("refresh token hash", &new.token_hash)?;
        check_text("client id", &new.client_id, 255)?;
        check_text("service", &new.service, 255)?;
        let now = now();
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let token = sqlx::query_as::<_, RefreshTokenRow>(&format!(
                "INSERT INTO refresh_tokens \
                 (user_id, token_hash, client_id, service, created_at, created_addr) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
            ))
            .bind(new.user_id)
            .bind(&hash)
            .bind(&new.client_id)
            .bind(&new.service)
            .bind(now)
            .bind(new.created_addr.as_deref())
            .fetch_one(&mut *tx)
            .await.map_err(db)?.model();
            write_audit!(tx, now, audit, &token);
            tx.commit().await.map_err(db)?;
            Ok::<_, StoreError>(token)
        }.await);
        result.map_err(|e| {
            e.context(
                || "refresh token with this hash".to_owned(),
                || format!("user {}", new.user_id),
            )
        })
    }

    /// The refresh token with this hash, with its owner, if it may be honoured: not revoked,
    /// used (or issued) at `idle_since` or later, and its owner exists, is not disabled and
    /// has not expired.
    async fn find_active_refresh_token(
        &self,
        token_hash: &str,
        idle_since: i64,
    ) -> Result<Option<ActiveRefreshToken>, StoreError> {
        let hash = check_hash("refresh token hash", token_hash)?;
        let now = now();
        let row = dispatch!(self, pool => {
            sqlx::query_as::<_, ActiveRow>(
                "SELECT u.id, u.username, u.password_hash, u.kind, u.is_admin, u.disabled, \
                 u.first_name, u.last_name, u.email, u.expires_at, u.created_at, u.updated_at, \
                 u.password_changed_at, \
                 t.id AS token_id, t.token_hash, t.client_id, t.service, \
                 t.created_at AS token_created_at, t.last_used_at, t.revoked_at, \
                 t.created_addr, t.last_used_addr \
                 FROM refresh_tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled \
                 AND (u.expires_at IS NULL OR u.expires_at > $2) \
                 AND COALESCE(t.last_used_at, t.created_at) >= $3",
            )
            .bind(&hash)
            .bind(now)
            .bind(idle_since)
            .fetch_optional(pool)
            .await.map_err(db)?
        });
        Ok(row.map(ActiveRefreshToken::from))
    }

    /// Records uses in one transaction: each token's `last_used_at` becomes the later of the
    /// stored one and the use's (batches from several servers may arrive out of order), and
    /// its `last_used_addr` the later use's address. Missing tokens are skipped. Returns how
    /// many rows changed.
    async fn record_refresh_token_uses(&self, uses: &[RefreshTokenUse]) -> Result<u64, StoreError> {
        if uses.is_empty() {
            return Ok(0);
        }
        for u in uses {
            if let Some(addr) = &u.addr {
                check_text("address", addr, 255)?;
            }
        }
        let changed = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let mut changed = 0;
            for u in uses {
                changed += sqlx::query(
                    "UPDATE refresh_tokens SET \
                     last_used_addr = CASE WHEN last_used_at IS NULL OR last_used_at <= $2 \
                         THEN COALESCE($3, last_used_addr) ELSE last_used_addr END, \
                     last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $2 \
                         THEN $2 ELSE last_used_at END \
                     WHERE id = $1",
                )
                .bind(u.id)
                .bind(u.at)
                .bind(u.addr.as_deref())
                .execute(&mut *tx)
                .await.map_err(db)?
                .rows_affected();
            }
            tx.commit().await.map_err(db)?;
            changed
        });
        Ok(changed)
    }

    /// The login revision (one row).
    async fn login_revision(&self) -> Result<i64, StoreError> {
        let rev: i64 = dispatch!(self, pool => {
            sqlx::query_scalar("SELECT revision FROM login_revision WHERE id = 1")
                .fetch_one(pool)
                .await.map_err(db)?
        });
        Ok(rev)
    }

    /// Revokes one refresh token; returns how many were revoked (0 if it does not exist or
    /// was already revoked), bumping the login revision when it revoked one. The audit events, made of that count, are written in the same
    /// transaction.
    async fn revoke_refresh_token(
        &self,
        id: i64,
        audit: Audit<'_, u64>,
    ) -> Result<u64, StoreError> {
        let now = now();
        let changed = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let changed = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await.map_err(db)?
            .rows_affected();
            if changed > 0 {
                bump_logins!(tx, now);
            }
            write_audit!(tx, now, audit, &changed);
            tx.commit().await.map_err(db)?;
            changed
        });
        Ok(changed)
    }

    /// Revokes every live refresh token of a user, or only those issued to `client_id`;
    /// returns how many were revoked, bumping the login revision when there were any. The audit events, made of that count, are written in the
    /// same transaction.
    async fn revoke_refresh_tokens_of_user(
        &self,
        user_id: i64,
        client_id: Option<&str>,
        audit: Audit<'_, u64>,
    ) -> Result<u64, StoreError> {
        let now = now();
        let changed = dispatch!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let changed = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL AND ($3 IS NULL OR client_id = $3)",
            )
            .bind(user_id)
            .bind(now)
            .bind(client_id)
            .execute(&mut *tx)
            .await.map_err(db)?
            .rows_affected();
            if changed > 0 {
                bump_logins!(tx, now);
            }
            write_audit!(tx, now, audit, &changed);
            tx.commit().await.map_err(db)?;
            changed
        });
        Ok(changed)
    }

    /// Every refresh token of a user, revoked ones included, oldest first.
    async fn list_refresh_tokens(&self, user_id: i64) -> Result<Vec<RefreshToken>, StoreError> {
        let tokens = dispatch!(self, pool => {
            sqlx::query_as::<_, RefreshTokenRow>(&format!(
                "SELECT {TOKEN_COLUMNS} FROM refresh_tokens WHERE user_id = $1 ORDER BY id"
            ))
            .bind(user_id)
            .fetch_all(pool)
            .await.map_err(db)?.model()
        });
        Ok(tokens)
    }

    /// Deletes the refresh tokens revoked before `before` (unix seconds); returns how many.
    async fn purge_revoked_refresh_tokens(&self, before: i64) -> Result<u64, StoreError> {
        let changed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM refresh_tokens WHERE revoked_at IS NOT NULL AND revoked_at < $1")
                .bind(before)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(changed)
    }
}
