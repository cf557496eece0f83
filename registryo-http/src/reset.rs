//! "Forgot password" and invitations: the pages and the links sent by e-mail.
//!
//! - `GET /forgot` shows a form (username or e-mail address); `POST /forgot` answers the same
//!   page at once, whatever was typed: the lookup, the limits and the sending run in a
//!   background task, so neither the answer nor its timing tells whether an account exists.
//!   A message goes only to the address stored for an active person's account (never a
//!   service account, never a disabled or expired one), at most
//!   [`MailSettings::max_per_account`](registryo_core::app::mail::MailSettings) per account and window,
//!   and requests past [`MailSettings::max_per_addr`](registryo_core::app::mail::MailSettings) per client
//!   address are dropped silently.
//! - A link is `{public_url}/reset?token=T`: T is 256 random bits, the store keeps only its
//!   SHA-256. It works once, until it expires, and dies when the password changes by any
//!   path (the store deletes unused tokens on every password change).
//! - `GET /reset?token=T` shows the form when the token is live, else a page saying the link
//!   is invalid or has expired. `POST /reset` (CSRF-checked like the sign-in form, with the
//!   double-submit cookie) checks the password's strength, sets it and uses the token in one
//!   transaction, ends the user's web sessions, revokes their docker logins unless they ask
//!   to keep them, and writes an audit event.
//! - Without e-mail configured these pages answer `404` and the sign-in page has no link.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use registryo_core::storage::{NewPasswordToken, StoreError, TokenPurpose, User, UserKind};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::AppError;
use registryo_core::app::mail::{Mail, in_words, link_email};
use crate::session::{self, SIGNIN_COOKIE};
use registryo_core::time::unix_now as now;
use registryo_core::app::accounts::token_hash;

/// The routes (the caller adds the CSRF guard, which checks `/forgot` and `/reset` with the
/// sign-in form's double-submit cookie).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/forgot", get(forgot_page).post(forgot_submit))
        .route("/reset", get(reset_page).post(reset_submit))
}

/// The length of a token in a link (256 bits, URL-safe base64 without padding).
const TOKEN_LEN: usize = 43;

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    chrome: crate::ui::Chrome,
    token: String,
    sent: bool,
    valid_for: String,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    chrome: crate::ui::Chrome,
    /// The double-submit CSRF token.
    csrf: String,
    /// The link's token (empty on the invalid and done pages).
    token: String,
    username: String,
    invite: bool,
    /// `form`, `invalid` or `done`.
    state: &'static str,
    error: String,
    field: String,
}

impl ResetPage {
    fn err(&self, field: &str) -> &str {
        if self.field == field { &self.error } else { "" }
    }
}

/// The sign-in form's double-submit token: the cookie's when it has one, else a new one
/// (with the cookie to set).
fn double_submit(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), AppError> {
    match session::cookie(headers, SIGNIN_COOKIE) {
        Some(t) if t.len() == TOKEN_LEN => Ok((t.to_owned(), None)),
        _ => {
            let t = session::signin_token()?;
            let cookie =
                session::set_cookie(SIGNIN_COOKIE, &t, None, state.web.config.secure_cookies);
            Ok((t, Some(cookie)))
        }
    }
}

fn render(status: StatusCode, page: &impl Template, cookie: Option<HeaderValue>) -> Response {
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut resp = (status, Html(html)).into_response();
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn chrome() -> crate::ui::Chrome {
    crate::ui::Chrome {
        section: "signin",
        ..crate::ui::Chrome::anonymous()
    }
}

/// E-mail, or the "not set up" answer.
fn mail_of(state: &AppState) -> Result<&Mail, AppError> {
    state.mail.as_deref().ok_or_else(|| {
        AppError::NotFound("password reset by e-mail (not set up on this server)".to_owned())
    })
}

async fn forgot_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let mail = mail_of(&state)?;
    let (token, cookie) = double_submit(&state, &headers)?;
    let page = ForgotPage {
        chrome: chrome(),
        token,
        sent: false,
        valid_for: in_words(mail.settings.reset_ttl),
    };
    Ok(render(StatusCode::OK, &page, cookie))
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    login: String,
}

async fn forgot_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(form): Form<ForgotForm>,
) -> Result<Response, AppError> {
    let mail = mail_of(&state)?;
    let valid_for = in_words(mail.settings.reset_ttl);
    let login = form.login.trim().to_owned();
    if !login.is_empty() && login.len() <= 255 {
        let addr = session::client_ip(&ext);
        let remote = session::remote(&ext);
        let task_state = state.clone();
        // Off the request path: the answer and its timing are the same for every input.
        tokio::spawn(async move {
            if let Err(e) = request_reset(&task_state, &login, &addr, remote).await {
                e.log();
            }
        });
    }
    let (token, cookie) = double_submit(&state, &headers)?;
    let page = ForgotPage {
        chrome: chrome(),
        token,
        sent: true,
        valid_for,
    };
    Ok(render(StatusCode::OK, &page, cookie))
}

/// Handle a "forgot password" request for a username or an e-mail address: within the
/// limits, send each matching active person a reset link at their stored address. Returns
/// how many messages were sent (for tests; the page never tells).
pub async fn request_reset(
    state: &AppState,
    login: &str,
    addr: &str,
    remote: Option<std::net::SocketAddr>,
) -> Result<usize, AppError> {
    let mail = mail_of(state)?;
    if !mail.allow_request(addr) {
        tracing::info!(
            client = addr,
            "password reset requests over the limit for a client address: dropped"
        );
        return Ok(0);
    }
    let store = state.accounts.store();
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
            state
                .accounts
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
        send_link(state, &user, TokenPurpose::Reset).await?;
        state
            .accounts
            .audit(
                None,
                "user.password.reset_requested",
                Some(&user.username),
                None,
                remote,
            )
            .await;
        sent += 1;
    }
    Ok(sent)
}

/// Make a reset or invitation token for a person and mail its link to their stored address.
pub async fn send_link(
    state: &AppState,
    user: &User,
    purpose: TokenPurpose,
) -> Result<(), AppError> {
    let mail = mail_of(state)?;
    let Some(to) = user.email.as_deref() else {
        return Err(AppError::invalid(
            "email",
            "the account has no e-mail address",
        ));
    };
    let ttl = match purpose {
        TokenPurpose::Reset => mail.settings.reset_ttl,
        TokenPurpose::Invite => mail.settings.invite_ttl,
    };
    let token = session::new_secret()?;
    state
        .accounts
        .store()
        .insert_password_token(&NewPasswordToken {
            user_id: user.id,
            token_hash: token_hash(&token),
            purpose,
            expires_at: now() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        })
        .await?;
    let email = link_email(
        to,
        &user.username,
        &mail.link(&token),
        purpose == TokenPurpose::Invite,
        ttl,
    )
    .map_err(|e| AppError::Internal(format!("e-mail template: {e}")))?;
    mail.send(email).await.map_err(|e| {
        AppError::Internal(format!(
            "could not send the {} e-mail of {}: {e}",
            purpose.as_str(),
            user.username
        ))
    })
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn invalid_page(csrf: String, cookie: Option<HeaderValue>) -> Response {
    let page = ResetPage {
        chrome: chrome(),
        csrf,
        token: String::new(),
        username: String::new(),
        invite: false,
        state: "invalid",
        error: String::new(),
        field: String::new(),
    };
    render(StatusCode::GONE, &page, cookie)
}

/// The live token and its user, if the text is a token at all.
async fn live_token(
    state: &AppState,
    token: &str,
) -> Result<Option<(registryo_core::storage::PasswordToken, User)>, AppError> {
    if token.len() != TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    Ok(state
        .accounts
        .store()
        .find_password_token(&token_hash(token))
        .await?)
}

async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    mail_of(&state)?;
    let (csrf, cookie) = double_submit(&state, &headers)?;
    let Some((token, user)) = live_token(&state, &q.token).await? else {
        return Ok(invalid_page(csrf, cookie));
    };
    let page = ResetPage {
        chrome: chrome(),
        csrf,
        token: q.token,
        username: user.username,
        invite: token.purpose == TokenPurpose::Invite,
        state: "form",
        error: String::new(),
        field: String::new(),
    };
    Ok(render(StatusCode::OK, &page, cookie))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    keep_docker: Option<String>,
}

async fn reset_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    mail_of(&state)?;
    let (csrf, cookie) = double_submit(&state, &headers)?;
    let Some((token, user)) = live_token(&state, &form.token).await? else {
        return Ok(invalid_page(csrf, cookie));
    };
    let invite = token.purpose == TokenPurpose::Invite;
    let checked = crate::ops::check_password("new", &user.username, &form.new).and_then(|()| {
        if form.new == form.confirm {
            Ok(())
        } else {
            Err(AppError::invalid("confirm", "the two passwords differ"))
        }
    });
    if let Err(e) = checked {
        let page = ResetPage {
            chrome: chrome(),
            csrf,
            token: form.token,
            username: user.username,
            invite,
            state: "form",
            error: e.message(),
            field: e.field().unwrap_or_default().to_owned(),
        };
        return Ok(render(StatusCode::BAD_REQUEST, &page, cookie));
    }
    let hash = state.accounts.hash_password(&form.new).await?;
    let store = state.accounts.store();
    let keep = form.keep_docker.is_some() && !invite;
    // One transaction: the token is used, the password set, sessions end, and the docker
    // logins are revoked unless kept.
    let Some((_, user, ended)) = store
        .redeem_password_token(&token_hash(&form.token), &hash, keep)
        .await?
    else {
        // Used or expired while the password was being hashed.
        return Ok(invalid_page(csrf, cookie));
    };
    let revoked = ended.docker_logins;
    state.accounts.forget_credentials(&user.username);
    state.accounts.reload(true).await?;
    let (action, detail) = if invite {
        ("user.invite.accepted", None)
    } else if keep {
        ("user.password.reset", Some("docker logins kept".to_owned()))
    } else {
        (
            "user.password.reset",
            Some(format!("docker logins revoked: {revoked}")),
        )
    };
    state
        .accounts
        .audit(
            Some(&user.username),
            action,
            Some(&user.username),
            detail,
            session::remote(&ext),
        )
        .await;
    let page = ResetPage {
        chrome: chrome(),
        csrf,
        token: String::new(),
        username: user.username,
        invite,
        state: "done",
        error: String::new(),
        field: String::new(),
    };
    Ok(render(StatusCode::OK, &page, cookie))
}
