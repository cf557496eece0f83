//! Web UI sessions, stored by the SHA-256 hash of their cookie.

use crate::error::db;
use crate::rows::{Model, SessionRow};
use crate::store::{WritePool, check_hash, check_text, now};
use crate::{NewSession, Session, Store, StoreError};
use async_trait::async_trait;
use registryo_core::storage::{Audit, SessionStore};

#[async_trait]
impl SessionStore for Store {
    /// Stores a session. [`StoreError::Invalid`] if the id hash is not 64 hex digits,
    /// [`StoreError::NotFound`] if the user does not exist, [`StoreError::Conflict`] if the
    /// id hash is already stored.
    /// `audit`'s events are written in the same transaction.
    async fn create_session(
        &self,
        new: &NewSession,
        audit: Audit<'_, Session>,
    ) -> Result<Session, StoreError> {
        let id_hash = check_hash("session id hash", &new.id_hash)?;
        check_text("CSRF token", &new.csrf_token, 512)?;
        let now = now();
        let result = dispatch!(self, pool => async {
            let mut tx = pool.begin_write().await.map_err(db)?;
            let session = sqlx::query_as::<_, SessionRow>(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id_hash, user_id, csrf_token, created_at, expires_at",
            )
            .bind(&id_hash)
            .bind(new.user_id)
            .bind(&new.csrf_token)
            .bind(now)
            .bind(new.expires_at)
            .fetch_one(&mut *tx)
            .await.map_err(db)?.model();
            write_audit!(tx, now, audit, &session);
            tx.commit().await.map_err(db)?;
            Ok::<_, StoreError>(session)
        }.await);
        result.map_err(|e| {
            e.context(
                || "session with this id".to_owned(),
                || format!("user {}", new.user_id),
            )
        })
    }

    /// The session with this id hash, if it has not expired and its user is neither disabled
    /// nor expired.
    async fn get_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let id_hash = check_hash("session id hash", id_hash)?;
        let now = now();
        let session = dispatch!(self, pool => {
            sqlx::query_as::<_, SessionRow>(
                "SELECT s.id_hash, s.user_id, s.csrf_token, s.created_at, s.expires_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = $1 AND s.expires_at > $2 AND NOT u.disabled \
                 AND (u.expires_at IS NULL OR u.expires_at > $2)",
            )
            .bind(&id_hash)
            .bind(now)
            .fetch_optional(pool)
            .await.map_err(db)?.model()
        });
        Ok(session)
    }

    /// Deletes a session (log out): `true` if it existed.
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let id_hash = check_hash("session id hash", id_hash)?;
        let changed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(&id_hash)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(changed > 0)
    }

    /// Deletes every session of a user (log out everywhere); returns how many.
    async fn delete_sessions_of_user(&self, user_id: i64) -> Result<u64, StoreError> {
        let changed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(changed)
    }

    /// Deletes the sessions that have expired; returns how many.
    async fn delete_expired_sessions(&self) -> Result<u64, StoreError> {
        let now = now();
        let changed = dispatch!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await.map_err(db)?
                .rows_affected()
        });
        Ok(changed)
    }
}
