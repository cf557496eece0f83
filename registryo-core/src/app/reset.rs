//! "Forgot password" and invitations, without the pages: the links sent by e-mail and their
//! redemption.
//!
//! A link is `{public_url}/reset?token=T`: T is 256 random bits, the store keeps only its
//! SHA-256. It works once, until it expires, and dies when the password changes by any path
//! (the store deletes unused tokens on every password change). A request sends a message
//! only to the address stored for an active person's account (never a service account,
//! never a disabled or expired one), at most [`MailSettings::max_per_account`] per account
//! and window; requests past [`MailSettings::max_per_addr`] per client address are dropped.
//! A reset link is audited (`user.password.reset_requested`) in the transaction that stores its
//! token, so before its message is sent: a link whose message then fails is on record, as it
//! exists (until it expires or the password changes).
//!
//! [`MailSettings::max_per_account`]: super::mail::MailSettings::max_per_account
//! [`MailSettings::max_per_addr`]: super::mail::MailSettings::max_per_addr

use std::net::SocketAddr;

use crate::storage::{
    Audit, LoginsEnded, NewAuditEvent, NewPasswordToken, PasswordToken, StoreError, TokenPurpose,
    User, UserKind,
};
use crate::time::unix_now as now;

use super::App;
use super::OpError;
use super::accounts::token_hash;
use super::mail::{Mail, link_email};
use super::ops::{check_password, new_secret};

/// The length of a link's token (256 bits, URL-safe base64 without padding).
pub const TOKEN_LEN: usize = 43;

/// E-mail, or the "not set up" answer.
pub fn mail_of(app: &App) -> Result<&Mail, OpError> {
    app.mail.as_deref().ok_or_else(|| {
        OpError::NotFound("password reset by e-mail (not set up on this server)".to_owned())
    })
}

/// Handle a "forgot password" request for a username or an e-mail address: within the
/// limits, send each matching active person a reset link at their stored address. Returns
/// how many messages were sent (for tests; the pages never tell).
pub async fn request_reset(
    app: &App,
    login: &str,
    addr: &str,
    remote: Option<SocketAddr>,
) -> Result<usize, OpError> {
    let mail = mail_of(app)?;
    if !mail.allow_request(addr) {
        tracing::info!(
            client = addr,
            "password reset requests over the limit for a client address: dropped"
        );
        return Ok(0);
    }
    let store = app.store();
    let candidates = if login.contains('@') {
        store.find_users_by_email(login).await?
    } else {
        match store.get_user_by_name(login).await {
            Ok(u) => vec![u],
            Err(StoreError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        }
    };
    let t = now();
    let window = i64::try_from(mail.settings.window.as_secs()).unwrap_or(i64::MAX);
    let mut sent = 0;
    for user in candidates {
        if user.kind != UserKind::Human || !user.is_active_at(t) || user.email.is_none() {
            continue;
        }
        let _issuing = mail.issuing.lock().await;
        let recent = store
            .count_password_tokens_since(user.id, t.saturating_sub(window))
            .await?;
        if recent >= i64::from(mail.settings.max_per_account) {
            app.accounts
                .audit(
                    None,
                    "user.password.reset_throttled",
                    Some(&user.username),
                    None,
                    remote,
                )
                .await;
            continue;
        }
        let event = NewAuditEvent {
            target: Some(user.username.clone()),
            remote_addr: remote.map(|a| a.ip().to_string()),
            ..NewAuditEvent::new("user.password.reset_requested")
        };
        send_link(app, &user, TokenPurpose::Reset, &|_| vec![event.clone()]).await?;
        sent += 1;
    }
    Ok(sent)
}

/// Make a reset or invitation token for a person (audited as `audit` says, with the token) and
/// mail its link to their stored address.
pub async fn send_link(
    app: &App,
    user: &User,
    purpose: TokenPurpose,
    audit: Audit<'_, PasswordToken>,
) -> Result<(), OpError> {
    let mail = mail_of(app)?;
    let Some(to) = user.email.as_deref() else {
        return Err(OpError::invalid(
            "email",
            "the account has no e-mail address",
        ));
    };
    let ttl = match purpose {
        TokenPurpose::Reset => mail.settings.reset_ttl,
        TokenPurpose::Invite => mail.settings.invite_ttl,
    };
    let token = new_secret()?;
    app.store()
        .insert_password_token(
            &NewPasswordToken {
                user_id: user.id,
                token_hash: token_hash(&token),
                purpose,
                expires_at: now() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            },
            audit,
        )
        .await?;
    let email = link_email(
        to,
        &user.username,
        &mail.link(&token),
        purpose == TokenPurpose::Invite,
        ttl,
    )
    .map_err(|e| OpError::Internal(format!("e-mail template: {e}")))?;
    mail.send(email).await.map_err(|e| {
        OpError::Internal(format!(
            "could not send the {} e-mail of {}: {e}",
            purpose.as_str(),
            user.username
        ))
    })
}

/// The live token of a link and its user; `None` when the text is not a token at all, or
/// the token is used, expired or unknown.
pub async fn live_token(app: &App, token: &str) -> Result<Option<(PasswordToken, User)>, OpError> {
    if token.len() != TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    Ok(app.store().find_password_token(&token_hash(token)).await?)
}

/// A link's new password, as typed.
#[derive(Debug, Clone, Default)]
pub struct Redemption {
    /// The link's token.
    pub token: String,
    /// The new password.
    pub new: String,
    /// The new password again.
    pub confirm: String,
    /// Keep the docker logins (a reset only; an invitation has none).
    pub keep_docker_logins: bool,
}

/// What a redeemed link did.
#[derive(Debug, Clone)]
pub struct Redeemed {
    /// The account, with its new password.
    pub user: User,
    /// It was an invitation.
    pub invite: bool,
    /// The sessions and docker logins the change ended.
    pub ended: LoginsEnded,
}

/// Set the password of a link's account: the password's strength is checked, then (in one
/// transaction) the token is used, the password set, the sessions ended and the docker logins
/// revoked unless kept, and the change audited. `Ok(None)` when the link is not live (used,
/// expired, unknown, or used while the password was being hashed).
pub async fn redeem(
    app: &App,
    form: &Redemption,
    remote: Option<SocketAddr>,
) -> Result<Option<Redeemed>, OpError> {
    let Some((token, user)) = live_token(app, &form.token).await? else {
        return Ok(None);
    };
    let invite = token.purpose == TokenPurpose::Invite;
    check_password("new", &user.username, &form.new)?;
    if form.new != form.confirm {
        return Err(OpError::invalid("confirm", "the two passwords differ"));
    }
    let hash = app.accounts.hash_password(&form.new).await?;
    let keep = form.keep_docker_logins && !invite;
    let audit = |(_, user, ended): &(PasswordToken, User, LoginsEnded)| {
        let (action, detail) = if invite {
            ("user.invite.accepted", None)
        } else if keep {
            ("user.password.reset", Some("docker logins kept".to_owned()))
        } else {
            (
                "user.password.reset",
                Some(format!("docker logins revoked: {}", ended.docker_logins)),
            )
        };
        vec![NewAuditEvent {
            actor: Some(user.username.clone()),
            target: Some(user.username.clone()),
            detail,
            remote_addr: remote.map(|a| a.ip().to_string()),
            ..NewAuditEvent::new(action)
        }]
    };
    let Some((_, user, ended)) = app
        .store()
        .redeem_password_token(&token_hash(&form.token), &hash, keep, &audit)
        .await?
    else {
        return Ok(None);
    };
    app.accounts.forget_credentials(&user.username);
    app.accounts.reload(true).await?;
    Ok(Some(Redeemed {
        user,
        invite,
        ended,
    }))
}
