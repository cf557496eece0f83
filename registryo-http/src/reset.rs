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
//! - The links, their limits and their redemption are the application's
//!   ([`registryo_core::app::reset`]); these are only the pages.
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
use registryo_core::app::OpError;
use registryo_core::app::mail::in_words;
use registryo_core::app::reset::{self, Redeemed};
use registryo_core::storage::TokenPurpose;
use serde::Deserialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::session;

/// The routes (the caller adds the CSRF guard, which checks `/forgot` and `/reset` with the
/// sign-in form's double-submit cookie).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/forgot", get(forgot_page).post(forgot_submit))
        .route("/reset", get(reset_page).post(reset_submit))
}

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

async fn forgot_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let mail = reset::mail_of(&state)?;
    let (token, cookie) = session::double_submit(&headers, state.web.config.secure_cookies)?;
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
    let mail = reset::mail_of(&state)?;
    let valid_for = in_words(mail.settings.reset_ttl);
    let login = form.login.trim().to_owned();
    if !login.is_empty() && login.len() <= 255 {
        let addr = session::client_ip(&ext);
        let remote = session::remote(&ext);
        let task_state = state.clone();
        // Off the request path: the answer and its timing are the same for every input.
        tokio::spawn(async move {
            if let Err(e) = reset::request_reset(&task_state, &login, &addr, remote).await {
                e.log();
            }
        });
    }
    let (token, cookie) = session::double_submit(&headers, state.web.config.secure_cookies)?;
    let page = ForgotPage {
        chrome: chrome(),
        token,
        sent: true,
        valid_for,
    };
    Ok(render(StatusCode::OK, &page, cookie))
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

async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    reset::mail_of(&state)?;
    let (csrf, cookie) = session::double_submit(&headers, state.web.config.secure_cookies)?;
    let Some((token, user)) = reset::live_token(&state, &q.token).await? else {
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
    reset::mail_of(&state)?;
    let (csrf, cookie) = session::double_submit(&headers, state.web.config.secure_cookies)?;
    let redemption = reset::Redemption {
        token: form.token,
        new: form.new,
        confirm: form.confirm,
        keep_docker_logins: form.keep_docker.is_some(),
    };
    let Redeemed { user, invite, .. } =
        match reset::redeem(&state, &redemption, session::remote(&ext)).await {
            Ok(Some(done)) => done,
            Ok(None) => return Ok(invalid_page(csrf, cookie)),
            Err(e @ OpError::Invalid { .. }) => {
                // The form again, with the error; the link stays live.
                let (username, invite) = match reset::live_token(&state, &redemption.token).await? {
                    Some((token, user)) => (user.username, token.purpose == TokenPurpose::Invite),
                    None => return Ok(invalid_page(csrf, cookie)),
                };
                let page = ResetPage {
                    chrome: chrome(),
                    csrf,
                    token: redemption.token,
                    username,
                    invite,
                    state: "form",
                    error: e.message(),
                    field: e.field().unwrap_or_default().to_owned(),
                };
                return Ok(render(StatusCode::BAD_REQUEST, &page, cookie));
            }
            Err(e) => return Err(e.into()),
        };
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
