//! Docker logins (refresh tokens): listing and revoking them.

use crate::storage::{RefreshToken, User};

use super::super::App;
use super::{Actor, OpError};

/// A user's docker logins (refresh tokens) that still work, oldest first.
pub async fn logins(app: &App, user: &User) -> Result<Vec<RefreshToken>, OpError> {
    let mut tokens = app.accounts.store().list_refresh_tokens(user.id).await?;
    tokens.retain(|t| t.revoked_at.is_none());
    Ok(tokens)
}

/// Revoke one docker login of a user: [`OpError::NotFound`] unless it is theirs and live.
pub async fn revoke_login(app: &App, actor: &Actor, user: &User, id: i64) -> Result<(), OpError> {
    let login = logins(app, user)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| OpError::NotFound("docker login".to_owned()))?;
    let detail = format!("docker login {} (client_id={})", login.id, login.client_id);
    app.accounts
        .store()
        .revoke_refresh_token(login.id, &|_| {
            vec![actor.event("token.revoke", &user.username, Some(detail.clone()))]
        })
        .await?;
    // Other servers drop it when they see the store's login revision move.
    app.accounts.forget_logins();
    Ok(())
}

/// Revoke every docker login of a user, or only those of `client_id`; returns how many.
pub async fn revoke_logins(
    app: &App,
    actor: &Actor,
    user: &User,
    client_id: Option<&str>,
) -> Result<u64, OpError> {
    let n = app
        .accounts
        .store()
        .revoke_refresh_tokens_of_user(user.id, client_id, &|n| {
            let detail = match client_id {
                Some(c) => format!("{n} docker login(s) of client_id={c}"),
                None => format!("all {n} docker login(s)"),
            };
            vec![actor.event("token.revoke", &user.username, Some(detail))]
        })
        .await?;
    app.accounts.forget_logins();
    Ok(n)
}
