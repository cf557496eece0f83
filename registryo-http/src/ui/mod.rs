//! The server-rendered web UI (askama templates in `templates/`, auto-escaped).
//!
//! Pages read with `GET` and change with `POST` forms that redirect back (`303`) with a
//! short notice code; every form carries the session's CSRF token, checked by
//! [`crate::session::csrf_guard`]. Anonymous visitors are sent to `/signin`; non-admins get a
//! `403` page on `/admin/…`.
//!
//! One module per area: `sign_in`, `home`, `profile`, `users` (people and service accounts),
//! `groups`, `rules` (and "explain"), `audit`, and [`browse`] (the registry). This module holds
//! what they share: the layout's [`Chrome`], error pages, rendering, the [`Admin`] extractor,
//! and the views of a user and of a docker login.

mod audit;
pub mod browse;
mod groups;
mod home;
mod profile;
mod rules;
mod sign_in;
pub(crate) use sign_in::remember_destination;
mod users;

use std::sync::LazyLock;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use registryo_core::storage::{User, UserKind};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::session::Viewer;
use registryo_core::app::ops::Actor;
use registryo_core::time::{date, datetime, unix_now as now};

/// The style sheet, served from `/static/style.css`.
pub const STYLE_CSS: &str = include_str!("../../static/style.css");

/// The style sheet's version in its URL: the first 12 hex digits of its SHA-256.
static CSS_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hex = registryo_core::secret::sha256_hex(STYLE_CSS.as_bytes());
    hex.truncate(12);
    hex
});

/// What the layout needs: who is signed in, the CSRF token, the current section.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The signed-in user's name; empty when nobody is.
    pub username: String,
    /// The signed-in user is an administrator.
    pub admin: bool,
    /// The session's CSRF token, for the forms.
    pub csrf: String,
    /// The nav entry to highlight.
    pub section: &'static str,
    /// A notice after a change (fixed text from a code, or what the change did).
    pub notice: std::borrow::Cow<'static, str>,
    /// The style sheet's URL (versioned).
    pub css: String,
}

impl Chrome {
    /// The chrome of a page for someone not signed in.
    pub fn anonymous() -> Chrome {
        Chrome {
            css: css_href(),
            ..Chrome::default()
        }
    }

    fn of(viewer: &Viewer, section: &'static str) -> Chrome {
        Chrome {
            username: viewer.user.username.clone(),
            admin: viewer.user.is_admin,
            csrf: viewer.csrf().to_owned(),
            section,
            notice: std::borrow::Cow::Borrowed(""),
            css: css_href(),
        }
    }

    fn notice(mut self, flash: &Flash) -> Chrome {
        self.notice = flash.ok.as_deref().map_or("", notice_text).into();
        self
    }

    /// The same chrome with this notice (what a change just did).
    fn told(mut self, notice: String) -> Chrome {
        self.notice = notice.into();
        self
    }
}

fn css_href() -> String {
    format!("/static/style.css?v={}", &*CSS_VERSION)
}

fn notice_text(code: &str) -> &'static str {
    match code {
        "saved" => "Saved.",
        "created" => "Created.",
        "disabled" => "The account is disabled; its sessions have ended.",
        "enabled" => "The account is enabled.",
        "password" => "The password is changed.",
        "admin" => "The user is now an administrator.",
        "unadmin" => "The user is no longer an administrator.",
        "deleted" => "Deleted.",
        "untagged" => "The tag is removed; its manifest stays.",
        "expiry" => "The expiry date is saved.",
        "added" => "Added.",
        "removed" => "Removed.",
        "revoked" => "The login is revoked.",
        "revoked_all" => "Every docker login of the account is revoked.",
        "invited" => "The invitation is sent.",
        _ => "",
    }
}

/// `?filter=TEXT&after=KEY` of the admin lists (users, groups, rules).
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    after: String,
}

/// Rows on one page of an admin list.
pub(crate) const LIST_PAGE: u32 = 50;

impl ListParams {
    /// The store query: a page of [`LIST_PAGE`] after `after`, containing `filter` (trimmed,
    /// at most 200 characters).
    pub(crate) fn query(&self) -> registryo_core::storage::ListQuery {
        registryo_core::storage::ListQuery {
            filter: self.filter.trim().chars().take(200).collect(),
            after: Some(self.after.clone()).filter(|a| !a.is_empty()),
            limit: LIST_PAGE,
        }
    }
}

/// The search box and the links between pages of an admin list (`partials/list_pager.html`).
#[derive(Debug, Clone, Default)]
pub struct ListPager {
    /// The list's path, e.g. `/admin/users`.
    pub path: &'static str,
    /// The search text as given.
    pub filter: String,
    /// The next page's link, or empty on the last page.
    pub next: String,
    /// The first page's link when this is a later one, else empty.
    pub first: String,
    /// How many rows this page shows.
    pub shown: usize,
}

impl ListPager {
    /// The pager of a page of `path` asked for with `params`, `next` its store cursor.
    pub(crate) fn new(
        path: &'static str,
        params: &ListParams,
        next: Option<String>,
        shown: usize,
    ) -> ListPager {
        let filter = params.filter.trim().to_owned();
        let link = |after: Option<&str>| {
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            if !filter.is_empty() {
                pairs.push(("filter", &filter));
            }
            if let Some(a) = after {
                pairs.push(("after", a));
            }
            match serde_urlencoded::to_string(&pairs) {
                Ok(q) if !q.is_empty() => format!("{path}?{q}"),
                _ => path.to_owned(),
            }
        };
        ListPager {
            path,
            next: next.as_deref().map(|n| link(Some(n))).unwrap_or_default(),
            first: if params.after.is_empty() {
                String::new()
            } else {
                link(None)
            },
            filter,
            shown,
        }
    }
}

/// `?ok=code` after a change.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    ok: Option<String>,
}

/// A UI error, rendered as a page (or a redirect to the sign-in page).
#[derive(Debug)]
pub struct UiError {
    err: AppError,
    chrome: Option<Box<Chrome>>,
}

impl From<AppError> for UiError {
    fn from(err: AppError) -> UiError {
        UiError { err, chrome: None }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        error_page(self.err, self.chrome.map(|c| *c))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        error_page(self, None)
    }
}

trait WithChrome<T> {
    fn ui(self, chrome: &Chrome) -> Result<T, UiError>;
}

impl<T, E: Into<AppError>> WithChrome<T> for Result<T, E> {
    fn ui(self, chrome: &Chrome) -> Result<T, UiError> {
        self.map_err(|err| UiError {
            err: err.into(),
            chrome: Some(Box::new(chrome.clone())),
        })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    title: &'static str,
    message: String,
}

/// Render an error as a page with its status; `401` becomes a redirect to `/signin`.
pub fn error_page(err: AppError, chrome: Option<Chrome>) -> Response {
    err.log();
    if err == AppError::Unauthenticated {
        return Redirect::to("/signin").into_response();
    }
    let status = err.status();
    let title = match &err {
        AppError::Csrf => "Request refused",
        AppError::Forbidden(_) => "Not allowed",
        AppError::NotFound(_) => "Not found",
        AppError::Throttled(_) => "Slow down",
        AppError::Upstream(_) => "The registry did not answer as expected",
        AppError::Unavailable { .. } => "Temporarily unavailable",
        AppError::Internal(_) => "Something went wrong",
        _ => "That did not work",
    };
    let page = ErrorPage {
        chrome: chrome.unwrap_or_else(Chrome::anonymous),
        status: status.as_u16(),
        title,
        message: err.message(),
    };
    with_retry_after(&err, render_status(status, &page))
}

/// `Retry-After` on a response for an error that says how long to wait.
pub fn with_retry_after(err: &AppError, mut resp: Response) -> Response {
    if let Some(wait) = err.retry_after() {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(wait.as_secs().max(1)),
        );
    }
    resp
}

fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn render<T: Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

fn back(path: &str, code: &str) -> Response {
    Redirect::to(&format!("{path}?ok={code}")).into_response()
}

/// A signed-in administrator.
#[derive(Debug)]
pub struct Admin(pub Viewer);

impl Admin {
    fn actor(&self) -> Actor {
        Actor::admin(self.0.user.username.clone(), self.0.remote)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        if !viewer.user.is_admin {
            return Err(UiError {
                err: AppError::Forbidden("this page is for administrators".to_owned()),
                chrome: Some(Box::new(Chrome::of(&viewer, ""))),
            });
        }
        Ok(Admin(viewer))
    }
}

fn parse_id(s: &str) -> Result<i64, AppError> {
    s.parse::<i64>()
        .map_err(|_| AppError::NotFound("page".to_owned()))
}

/// The UI's routes (the caller adds the CSRF guard).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(home::routes())
        .merge(sign_in::routes())
        .merge(profile::routes())
        .merge(users::routes())
        .merge(groups::routes())
        .merge(rules::routes())
        .merge(audit::routes())
        .merge(browse::routes())
}

/// `GET /static/style.css`: cached for a year when asked for by its current version.
pub async fn style(Query(q): Query<Vec<(String, String)>>) -> Response {
    let current = q.iter().any(|(k, v)| k == "v" && *v == *CSS_VERSION);
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, cache),
        ],
        STYLE_CSS,
    )
        .into_response()
}

// ---------------------------------------------------------------- views

/// A user as the pages show them.
#[derive(Debug, Clone)]
struct UserView {
    id: i64,
    username: String,
    service: bool,
    admin: bool,
    disabled: bool,
    expired: bool,
    first_name: String,
    last_name: String,
    email: String,
    expires: String,
    created: String,
    password_changed: String,
}

impl UserView {
    fn of(u: &User) -> UserView {
        UserView {
            id: u.id,
            username: u.username.clone(),
            service: u.kind == UserKind::Service,
            admin: u.is_admin,
            disabled: u.disabled,
            expired: u.expires_at.is_some_and(|t| t <= now()),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone().unwrap_or_default(),
            expires: u.expires_at.map(date).unwrap_or_default(),
            created: datetime(u.created_at),
            password_changed: u.password_changed_at.map(datetime).unwrap_or_default(),
        }
    }

    fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }

    fn status(&self) -> &'static str {
        if self.disabled {
            "disabled"
        } else if self.expired {
            "expired"
        } else {
            "active"
        }
    }
}

/// A form error to show next to its field.
#[derive(Debug, Clone, Default)]
struct FieldError {
    field: String,
    message: String,
}

impl FieldError {
    fn from(err: &AppError) -> FieldError {
        FieldError {
            field: err.field().unwrap_or("").to_owned(),
            message: err.message(),
        }
    }

    fn on(&self, field: &str) -> &str {
        if self.field == field {
            &self.message
        } else {
            ""
        }
    }

    fn general(&self) -> &str {
        if self.field.is_empty() {
            &self.message
        } else {
            ""
        }
    }
}

/// A docker login (refresh token) in a list.
struct TokenLine {
    id: i64,
    client_id: String,
    service: String,
    created: String,
    last_used: String,
    /// Where it was last used from (or made, if never used).
    address: String,
}

impl TokenLine {
    fn of(t: registryo_core::storage::RefreshToken) -> TokenLine {
        TokenLine {
            id: t.id,
            client_id: t.client_id,
            service: t.service,
            created: datetime(t.created_at),
            last_used: t
                .last_used_at
                .map(datetime)
                .unwrap_or_else(|| "never".to_owned()),
            address: t.last_used_addr.or(t.created_addr).unwrap_or_default(),
        }
    }
}

/// "Delete …?": a change that is hard to undo asks first, naming what changes.
#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    title: String,
    message: String,
    action: String,
    cancel: String,
    /// The button's label ("Delete", "Rotate the secret"…).
    button: &'static str,
    /// A destructive change: the button is red.
    danger: bool,
}

/// An HTML 404 page for browsers.
pub fn not_found_page() -> Response {
    error_page(AppError::NotFound("page".to_owned()), None)
}

/// Whether a request prefers HTML (a browser).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}
