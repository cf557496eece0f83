//! Web sessions: signing in with a password, the session a cookie names, signing out.
//!
//! A session's cookie holds 256 random bits; the store keeps only its SHA-256 hash, with the
//! person, an expiry (fixed, the session's time to live after sign-in) and a CSRF token, so
//! every replica sharing the database honours it. The store refuses sessions of disabled or
//! expired accounts, and [`get`] those of service accounts, so disabling someone signs them
//! out at once. Carrying the cookie and the CSRF token is the web front end's business.

use std::net::SocketAddr;
use std::time::Duration;

use crate::names::Username;
use crate::secret::token_hash;
use crate::storage::{Audit, NewAuditEvent, NewSession, Session, StoreError, User, UserKind};
use crate::time::unix_now as now;

use super::App;
use super::OpError;
use super::accounts::Checked;
use super::attempts::Channel;
use super::ops::new_secret;

/// The longest cookie value looked up: anything longer names no session.
const MAX_COOKIE: usize = 128;

/// What a sign-in came to. Its `Debug` hides the cookie.
pub enum SignIn {
    /// The password is right: a session started.
    Started {
        /// The person signed in.
        user: User,
        /// The session cookie's value, to send (the store has only its hash).
        cookie: String,
    },
    /// No such account, a wrong password, a disabled or expired account, or a service
    /// account (which has no web sessions): the same answer for each.
    Refused,
    /// Too many failed password checks: refused without looking at the password.
    Throttled(Duration),
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignIn::Started { user, .. } => f
                .debug_struct("Started")
                .field("user", &user.username)
                .field("cookie", &"<hidden>")
                .finish(),
            SignIn::Refused => f.write_str("Refused"),
            SignIn::Throttled(wait) => f.debug_tuple("Throttled").field(wait).finish(),
        }
    }
}

/// Sign a person in with their password, under the guessing limits of every password check
/// (a name that is no valid username names no account, and is not counted): a session of
/// `ttl` starts, audited as `ui.signin`.
pub async fn sign_in(
    app: &App,
    username: &str,
    password: &str,
    remote: Option<SocketAddr>,
    ttl: Duration,
) -> Result<SignIn, OpError> {
    let Ok(name) = Username::new(username.trim()) else {
        return Ok(SignIn::Refused);
    };
    let user_id = match app
        .accounts
        .check(&name, password, remote, Channel::SignIn)
        .await?
    {
        Checked::Valid { user_id, .. } => user_id,
        Checked::Invalid => return Ok(SignIn::Refused),
        Checked::Throttled(wait) => return Ok(SignIn::Throttled(wait)),
    };
    let user = app.store().get_user(user_id).await?;
    if user.kind != UserKind::Human {
        return Ok(SignIn::Refused);
    }
    let signed_in = NewAuditEvent {
        actor: Some(user.username.clone()),
        action: "ui.signin".to_owned(),
        target: None,
        detail: None,
        remote_addr: remote.map(|a| a.ip().to_string()),
    };
    let cookie = create(app, &user, ttl, &|_| vec![signed_in.clone()]).await?;
    Ok(SignIn::Started { user, cookie })
}

/// Start a session of `ttl` for a person, with `audit`'s events in its transaction: the
/// cookie's value, to send.
pub async fn create(
    app: &App,
    user: &User,
    ttl: Duration,
    audit: Audit<'_, Session>,
) -> Result<String, OpError> {
    let cookie = new_secret()?;
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    app.store()
        .create_session(
            &NewSession {
                id_hash: token_hash(&cookie),
                user_id: user.id,
                csrf_token: new_secret()?,
                expires_at: now().saturating_add(ttl),
            },
            audit,
        )
        .await?;
    Ok(cookie)
}

/// The live session a cookie's value names and its person, read afresh; `None` unless the
/// session is live and its account an active person's.
pub async fn get(app: &App, cookie: &str) -> Result<Option<(Session, User)>, OpError> {
    if cookie.is_empty() || cookie.len() > MAX_COOKIE {
        return Ok(None);
    }
    let store = app.store();
    let Some(session) = store.get_session(&token_hash(cookie)).await? else {
        return Ok(None);
    };
    let user = match store.get_user(session.user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if user.kind != UserKind::Human || !user.is_active_at(now()) {
        return Ok(None);
    }
    Ok(Some((session, user)))
}

/// End the session a cookie's value names, if any (signing out).
pub async fn delete(app: &App, cookie: &str) -> Result<(), OpError> {
    if cookie.len() <= MAX_COOKIE {
        app.store().delete_session(&token_hash(cookie)).await?;
    }
    Ok(())
}
