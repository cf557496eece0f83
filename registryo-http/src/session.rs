//! Web sessions and CSRF tokens, as the web carries them.
//!
//! - A session cookie holds what [`registryo_core::app::sessions`] made: 256 random bits
//!   whose SHA-256 the store keeps with the person, an expiry (fixed,
//!   [`WebConfig::session_ttl`] after sign-in) and a CSRF token. Signing in, finding the
//!   session a cookie names and signing out are that module's operations; here are the cookies.
//! - Every `POST` of the UI carries the session's CSRF token in a `csrf` form field, checked
//!   by [`csrf_guard`] before any handler runs. The sign-in form, which has no session yet,
//!   uses a double-submit cookie instead. The JSON API takes the token in `X-CSRF-Token`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use registryo_core::secret::random_token;
use registryo_core::service::ClientAddr;
use registryo_core::storage::{Session, User};

use crate::app::AppState;
use crate::error::AppError;
use registryo_core::app::ops::Actor;
use registryo_core::app::sessions;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "registryo_session";
/// The double-submit cookie of the sign-in form.
pub const SIGNIN_COOKIE: &str = "registryo_signin";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// The header that carries the CSRF token on the JSON API.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Settings of the web UI.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when the public URL is https).
    pub secure_cookies: bool,
    /// How long a session lasts after sign-in.
    pub session_ttl: Duration,
    /// The registry as people's clients name it (`HOST[:PORT]`), for the commands the UI
    /// shows (`docker login HOST`); empty: unknown, the commands name no host.
    pub registry_host: String,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            registry_host: String::new(),
        }
    }
}

/// The client's address as text (`unknown` when the server did not record it).
pub fn client_ip(parts_ext: &axum::http::Extensions) -> String {
    remote(parts_ext).map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// The client's address, if recorded.
pub fn remote(ext: &axum::http::Extensions) -> Option<SocketAddr> {
    ext.get::<ClientAddr>().map(|c| c.0)
}

/// The value of a cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let mut s = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Compare secrets in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    registryo_core::secret::same_secret(a.as_bytes(), b.as_bytes())
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The user, read from the store for this request.
    pub user: User,
    /// The session.
    pub session: Session,
    /// The client's address.
    pub remote: Option<SocketAddr>,
}

impl Viewer {
    /// The session's CSRF token.
    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }

    /// The viewer as the audit log names them when they act ([`Actor::person`]).
    pub fn actor(&self) -> Actor {
        Actor::person(self.user.username.clone(), self.remote)
    }
}

/// The session of a request, if its cookie names a live one of an active human user
/// ([`sessions::get`]).
pub async fn load_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, AppError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(value) => Ok(sessions::get(state, value).await?),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match load_session(state, &parts.headers).await? {
            Some((session, user)) => {
                crate::app::log_user(&user.username);
                Ok(Viewer {
                    user,
                    session,
                    remote: remote(&parts.extensions),
                })
            }
            None => Err(AppError::Unauthenticated),
        }
    }
}

/// End the session a request names, if any ([`sessions::delete`]).
pub async fn end_session(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if let Some(value) = cookie(headers, SESSION_COOKIE) {
        sessions::delete(state, value).await?;
    }
    Ok(())
}

/// A fresh double-submit token for the sign-in form.
pub fn signin_token() -> Result<String, AppError> {
    random_token().map_err(|e| AppError::Internal(e.to_string()))
}

/// The sign-in form's double-submit token (also the reset pages'): the cookie's when it has
/// one of the right length, else a new one with the cookie that sets it.
pub fn double_submit(
    headers: &HeaderMap,
    secure: bool,
) -> Result<(String, Option<HeaderValue>), AppError> {
    match cookie(headers, SIGNIN_COOKIE) {
        Some(t) if t.len() == registryo_core::app::reset::TOKEN_LEN => Ok((t.to_owned(), None)),
        _ => {
            let t = signin_token()?;
            let set = set_cookie(SIGNIN_COOKIE, &t, None, secure);
            Ok((t, Some(set)))
        }
    }
}

const MAX_FORM: usize = 64 * 1024;

/// Refuse every UI `POST` whose `csrf` field does not match the session's token (or, on
/// `/signin`, the sign-in cookie), before the handler runs: `403` and a page that says so.
pub async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // Forms shown to visitors without a session use the sign-in form's double-submit cookie.
    let expected = if matches!(parts.uri.path(), "/signin" | "/forgot" | "/reset") {
        cookie(&parts.headers, SIGNIN_COOKIE).map(str::to_owned)
    } else {
        match load_session(&state, &parts.headers).await {
            Ok(s) => s.map(|(session, _)| session.csrf_token),
            Err(e) => return crate::ui::error_page(e, None),
        }
    };
    let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(b) => b,
        Err(_) => {
            return crate::ui::error_page(
                AppError::Invalid {
                    field: None,
                    message: "the form is too large".to_owned(),
                },
                None,
            );
        }
    };
    let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == CSRF_FIELD))
        .map(|(_, v)| v);
    let ok = matches!((&expected, &sent), (Some(e), Some(s)) if !e.is_empty() && same_secret(e, s));
    if !ok {
        tracing::warn!(path = %parts.uri.path(), "refused a form without a valid CSRF token");
        return crate::ui::error_page(AppError::Csrf, None).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
