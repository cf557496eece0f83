//! The server-rendered web UI (askama templates in `templates/`, auto-escaped).
//!
//! Pages read with `GET` and change with `POST` forms that redirect back (`303`) with a
//! short notice code; every form carries the session's CSRF token, checked by
//! [`crate::session::csrf_guard`]. Anonymous visitors are sent to `/signin`; non-admins get a
//! `403` page on `/admin/…`.

pub mod browse;

use std::sync::LazyLock;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use registryo_core::acl::Principal;
use registryo_core::names::Username;
use registryo_core::storage::{User, UserKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::AppError;
use crate::session::{self, SESSION_COOKIE, SIGNIN_COOKIE, Viewer};
use registryo_core::app::OpError;
use registryo_core::app::accounts::Checked;
use registryo_core::app::attempts::Channel;
use registryo_core::app::ops::{self, Actor, NewHuman};
use registryo_core::time::{date, datetime, unix_now as now};

/// The style sheet, served from `/static/style.css`.
pub const STYLE_CSS: &str = include_str!("../../static/style.css");

static CSS_VERSION: LazyLock<String> = LazyLock::new(|| {
    let d = Sha256::digest(STYLE_CSS.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
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
    /// A notice after a change (fixed text, from a code).
    pub notice: &'static str,
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
            notice: "",
            css: css_href(),
        }
    }

    fn notice(mut self, flash: &Flash) -> Chrome {
        self.notice = flash.ok.as_deref().map_or("", notice_text);
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
        "expiry" => "The expiry date is saved.",
        "added" => "Added.",
        "removed" => "Removed.",
        "revoked" => "The login is revoked.",
        "revoked_all" => "Every docker login of the account is revoked.",
        "invited" => "The invitation is sent.",
        _ => "",
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
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/profile", get(profile))
        .route("/profile/password", post(profile_password))
        .route("/profile/tokens/{id}/revoke", post(profile_revoke))
        .route("/admin/users", get(users).post(users_create))
        .route("/admin/service-accounts", post(service_create))
        .route("/admin/users/{id}", get(user_page))
        .route("/admin/users/{id}/profile", post(user_profile))
        .route("/admin/users/{id}/disable", post(user_disable))
        .route("/admin/users/{id}/enable", post(user_enable))
        .route("/admin/users/{id}/admin", post(user_admin))
        .route("/admin/users/{id}/unadmin", post(user_unadmin))
        .route("/admin/users/{id}/password", post(user_password))
        .route("/admin/users/{id}/rotate", post(user_rotate))
        .route("/admin/users/{id}/expiry", post(user_expiry))
        .route("/admin/users/{id}/logins/revoke", post(user_revoke_all))
        .route(
            "/admin/users/{id}/logins/{login}/revoke",
            post(user_revoke_login),
        )
        .route(
            "/admin/users/{id}/delete",
            get(user_delete_confirm).post(user_delete),
        )
        .route("/admin/groups", get(groups).post(groups_create))
        .route("/admin/groups/{id}", get(group_page))
        .route("/admin/groups/{id}/members", post(group_add))
        .route(
            "/admin/groups/{id}/members/{uid}/remove",
            post(group_remove),
        )
        .route(
            "/admin/groups/{id}/delete",
            get(group_delete_confirm).post(group_delete),
        )
        .route("/admin/rules", get(rules).post(rules_add))
        .route("/admin/rules/{id}/delete", post(rules_delete))
        .route("/admin/explain", get(explain))
        .route("/admin/audit", get(audit))
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

// ---------------------------------------------------------------- sign-in

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    chrome: Chrome,
    token: String,
    username: String,
    error: String,
    /// E-mail is set up: show the "forgot password" link.
    forgot: bool,
}

async fn signin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    if session::load_session(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    signin_form(
        &state,
        &headers,
        String::new(),
        String::new(),
        StatusCode::OK,
    )
}

fn signin_form(
    state: &AppState,
    headers: &HeaderMap,
    username: String,
    error: String,
    status: StatusCode,
) -> Result<Response, UiError> {
    let token = match session::cookie(headers, SIGNIN_COOKIE) {
        Some(t) if t.len() == 43 => t.to_owned(),
        _ => session::signin_token()?,
    };
    let page = SignInPage {
        chrome: Chrome {
            section: "signin",
            ..Chrome::anonymous()
        },
        token: token.clone(),
        username,
        error,
        forgot: state.mail.is_some(),
    };
    let mut resp = render_status(status, &page);
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SIGNIN_COOKIE, &token, None, state.web.config.secure_cookies),
    );
    Ok(resp)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(form): Form<SignInForm>,
) -> Result<Response, UiError> {
    let typed = form.username.trim().to_owned();
    let refused = |status| {
        signin_form(
            &state,
            &headers,
            typed.clone(),
            "Invalid username or password.".to_owned(),
            status,
        )
    };
    // A name that is no valid username names no account (and is not counted).
    let Ok(username) = Username::new(typed.as_str()) else {
        return refused(StatusCode::UNAUTHORIZED);
    };
    let checked = state
        .accounts
        .check(
            &username,
            &form.password,
            session::remote(&ext),
            Channel::SignIn,
        )
        .await
        .map_err(AppError::from)?;
    let user_id = match checked {
        Checked::Valid { user_id, .. } => user_id,
        Checked::Invalid => return refused(StatusCode::UNAUTHORIZED),
        Checked::Throttled(wait) => {
            let err = AppError::Throttled(wait);
            let page = signin_form(
                &state,
                &headers,
                typed.clone(),
                err.message(),
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            return Ok(with_retry_after(&err, page));
        }
    };
    let user = state
        .accounts
        .store()
        .get_user(user_id)
        .await
        .map_err(AppError::from)?;
    // Service accounts have no web UI.
    if user.kind != UserKind::Human {
        return refused(StatusCode::UNAUTHORIZED);
    }
    let value = session::start_session(&state, &user).await?;
    state
        .accounts
        .audit(
            Some(&user.username),
            "ui.signin",
            None,
            None,
            session::remote(&ext),
        )
        .await;
    let cfg = &state.web.config;
    let mut resp = Redirect::to("/").into_response();
    let secure = cfg.secure_cookies;
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(
            SESSION_COOKIE,
            &value,
            Some(cfg.session_ttl.as_secs()),
            secure,
        ),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(SIGNIN_COOKIE, "", Some(0), secure),
    );
    Ok(resp)
}

async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, UiError> {
    session::end_session(&state, &headers).await?;
    let mut resp = Redirect::to("/signin").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SESSION_COOKIE, "", Some(0), state.web.config.secure_cookies),
    );
    Ok(resp)
}

// ---------------------------------------------------------------- home, profile

struct RuleLine {
    subject: String,
    pattern: String,
    actions: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    rules: Vec<RuleLine>,
    counts: Option<(usize, usize, usize)>,
    broken: usize,
}

async fn home(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "home");
    let snap = state.accounts.snapshot();
    let u = &viewer.user;
    let principal = snap
        .principal(&u.username, now())
        .unwrap_or_else(|| Principal::user(u.username.clone()));
    let rules = snap
        .acl
        .rules()
        .iter()
        .filter(|r| r.subject.matches(&principal))
        .map(|r| RuleLine {
            subject: r.subject.to_string(),
            pattern: r.pattern.to_string(),
            actions: r.actions.to_string(),
        })
        .collect();
    let counts = if u.is_admin {
        let groups = state
            .accounts
            .store()
            .list_groups()
            .await
            .map_err(AppError::from)
            .ui(&chrome)?;
        Some((snap.users.len(), groups.len(), snap.acl.len()))
    } else {
        None
    };
    let name = if u.first_name.is_empty() {
        u.username.clone()
    } else {
        u.first_name.clone()
    };
    Ok(render(&HomePage {
        chrome,
        name,
        rules,
        counts,
        broken: snap.broken_rules.len(),
    }))
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

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    user: UserView,
    groups: Vec<String>,
    tokens: Vec<TokenLine>,
    error: FieldError,
}

impl ProfilePage {
    fn revoke_url(&self, id: &i64) -> String {
        format!("/profile/tokens/{id}/revoke")
    }
    fn revoke_all_url(&self) -> String {
        String::new()
    }
}

async fn profile_page(
    state: &AppState,
    viewer: &Viewer,
    chrome: Chrome,
    error: FieldError,
    status: StatusCode,
) -> Result<Response, UiError> {
    let store = state.accounts.store();
    let groups = store
        .groups_of_user(viewer.user.id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    let tokens = ops::logins(state, &viewer.user)
        .await
        .ui(&chrome)?
        .into_iter()
        .map(TokenLine::of)
        .collect();
    Ok(render_status(
        status,
        &ProfilePage {
            chrome,
            user: UserView::of(&viewer.user),
            groups: groups.into_iter().map(|g| g.name).collect(),
            tokens,
            error,
        },
    ))
}

async fn profile(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "profile").notice(&flash);
    profile_page(
        &state,
        &viewer,
        chrome,
        FieldError::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    /// "Keep my docker logins" (off by default: a password change ends them).
    #[serde(default)]
    keep_docker: Option<String>,
}

async fn profile_password(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<PasswordForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "profile");
    let u = &viewer.user;
    let result: Result<(), AppError> = async {
        // The current password, under the same guessing limits as every password check.
        let name = Username::new(u.username.as_str())
            .map_err(|_| AppError::invalid("current", "the current password is wrong"))?;
        match state
            .accounts
            .check(&name, &form.current, viewer.remote, Channel::Profile)
            .await?
        {
            Checked::Valid { user_id, .. } if user_id == u.id => {}
            Checked::Throttled(wait) => return Err(AppError::Throttled(wait)),
            _ => {
                return Err(AppError::invalid(
                    "current",
                    "the current password is wrong",
                ));
            }
        }
        ops::check_password("new", &u.username, &form.new)?;
        if form.new != form.confirm {
            return Err(AppError::invalid("confirm", "the two new passwords differ"));
        }
        let keep = ops::OwnChange {
            session: Some(viewer.session.id_hash.clone()),
            keep_docker_logins: form.keep_docker.is_some(),
        };
        let actor = Actor::admin(u.username.clone(), viewer.remote);
        ops::change_own_password(&state, &actor, u, &form.new, keep).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(back("/profile", "password")),
        Err(e @ AppError::Invalid { .. }) => {
            profile_page(
                &state,
                &viewer,
                chrome,
                FieldError::from(&e),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

async fn profile_revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "profile");
    let id = parse_id(&id).ui(&chrome)?;
    let actor = Actor::admin(viewer.user.username.clone(), viewer.remote);
    ops::revoke_login(&state, &actor, &viewer.user, id)
        .await
        .ui(&chrome)?;
    Ok(back("/profile", "revoked"))
}

// ---------------------------------------------------------------- users

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserView>,
    error: FieldError,
    /// Which create form the error belongs to: `human` or `service`.
    form: &'static str,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    expires: String,
    /// The form's change needs a confirmation: show "create it anyway".
    confirm: bool,
}

impl UsersPage {
    fn humans(&self) -> Vec<&UserView> {
        self.users.iter().filter(|u| !u.service).collect()
    }
    fn services(&self) -> Vec<&UserView> {
        self.users.iter().filter(|u| u.service).collect()
    }
    fn err(&self, form: &str, field: &str) -> &str {
        if self.form == form {
            self.error.on(field)
        } else {
            ""
        }
    }
    fn general(&self, form: &str) -> &str {
        if self.form == form {
            self.error.general()
        } else {
            ""
        }
    }
}

async fn users_page(
    state: &AppState,
    mut page: UsersPage,
    status: StatusCode,
) -> Result<Response, UiError> {
    let users = state
        .accounts
        .store()
        .list_users()
        .await
        .map_err(AppError::from)
        .ui(&page.chrome)?;
    page.users = users.iter().map(UserView::of).collect();
    Ok(render_status(status, &page))
}

fn empty_users_page(chrome: Chrome) -> UsersPage {
    UsersPage {
        chrome,
        users: Vec::new(),
        error: FieldError::default(),
        form: "",
        username: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        email: String::new(),
        expires: String::new(),
        confirm: false,
    }
}

async fn users(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users").notice(&flash);
    users_page(&state, empty_users_page(chrome), StatusCode::OK).await
}

#[derive(Deserialize)]
struct HumanForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    invite: Option<String>,
    /// "Create it anyway" after a confirmation was asked for.
    #[serde(default)]
    force: Option<String>,
}

async fn users_create(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<HumanForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let new = NewHuman {
        username: f.username.trim().to_owned(),
        password: f.password,
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        email: f.email.clone(),
        admin: f.admin.is_some(),
        invite: f.invite.is_some(),
        force: f.force.is_some(),
    };
    let invite = new.invite;
    match ops::create_human(&state, &admin.actor(), new)
        .await
        .map_err(AppError::from)
    {
        Ok(u) => Ok(back(
            &format!("/admin/users/{}", u.id),
            if invite { "invited" } else { "created" },
        )),
        Err(
            e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::NeedsConfirmation(_)),
        ) => {
            let status = e.status();
            let page = UsersPage {
                error: FieldError::from(&e),
                confirm: matches!(e, AppError::NeedsConfirmation(_)),
                form: "human",
                username: f.username,
                first_name: f.first_name,
                last_name: f.last_name,
                email: f.email,
                ..empty_users_page(chrome)
            };
            users_page(&state, page, status).await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage {
    chrome: Chrome,
    user: UserView,
    secret: String,
}

#[derive(Deserialize)]
struct ServiceForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    expires: String,
    /// "Create it anyway" after a confirmation was asked for.
    #[serde(default)]
    force: Option<String>,
}

async fn service_create(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<ServiceForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let result = async {
        let expires = ops::check_expiry(&f.expires)?;
        let new = ops::NewService {
            username: f.username.trim().to_owned(),
            expires_at: expires,
            force: f.force.is_some(),
            ..ops::NewService::default()
        };
        ops::create_service(&state, &admin.actor(), new).await
    }
    .await;
    match result.map_err(AppError::from) {
        Ok((user, secret)) => Ok(render_status(
            StatusCode::CREATED,
            &SecretPage {
                chrome,
                user: UserView::of(&user),
                secret,
            },
        )),
        Err(
            e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::NeedsConfirmation(_)),
        ) => {
            let status = e.status();
            let page = UsersPage {
                error: FieldError::from(&e),
                confirm: matches!(e, AppError::NeedsConfirmation(_)),
                form: "service",
                username: f.username,
                expires: f.expires,
                ..empty_users_page(chrome)
            };
            users_page(&state, page, status).await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    chrome: Chrome,
    user: UserView,
    groups: Vec<(i64, String)>,
    tokens: Vec<TokenLine>,
    error: FieldError,
    myself: bool,
}

impl UserPage {
    fn revoke_url(&self, id: &i64) -> String {
        format!("/admin/users/{}/logins/{id}/revoke", self.user.id)
    }
    fn revoke_all_url(&self) -> String {
        format!("/admin/users/{}/logins/revoke", self.user.id)
    }
}

async fn user_page_render(
    state: &AppState,
    admin: &Admin,
    chrome: Chrome,
    id: i64,
    error: FieldError,
    status: StatusCode,
) -> Result<Response, UiError> {
    let u = ops::user(state, id).await.ui(&chrome)?;
    let store = state.accounts.store();
    let groups = store
        .groups_of_user(id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    let tokens = ops::logins(state, &u).await.ui(&chrome)?;
    Ok(render_status(
        status,
        &UserPage {
            myself: u.id == admin.0.user.id,
            chrome,
            user: UserView::of(&u),
            groups: groups.into_iter().map(|g| (g.id, g.name)).collect(),
            tokens: tokens.into_iter().map(TokenLine::of).collect(),
            error,
        },
    ))
}

async fn user_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users").notice(&flash);
    let id = parse_id(&id).ui(&chrome)?;
    user_page_render(
        &state,
        &admin,
        chrome,
        id,
        FieldError::default(),
        StatusCode::OK,
    )
    .await
}

/// Run a change on a user and go back to their page; a validation error is shown there.
async fn user_change<F, Fut>(
    state: &AppState,
    admin: &Admin,
    id: &str,
    code: &str,
    change: F,
) -> Result<Response, UiError>
where
    F: FnOnce(User) -> Fut,
    Fut: Future<Output = Result<(), OpError>>,
{
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(id).ui(&chrome)?;
    let user = ops::user(state, id).await.ui(&chrome)?;
    match change(user).await.map_err(AppError::from) {
        Ok(()) => Ok(back(&format!("/admin/users/{id}"), code)),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let status = e.status();
            user_page_render(state, admin, chrome, id, FieldError::from(&e), status).await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

async fn user_revoke_login(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, login)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    let chrome = Chrome::of(&admin.0, "users");
    let login = parse_id(&login).ui(&chrome)?;
    user_change(&state, &admin, &id, "revoked", |u| async move {
        ops::revoke_login(&st, &actor, &u, login).await
    })
    .await
}

async fn user_revoke_all(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "revoked_all", |u| async move {
        ops::revoke_logins(&st, &actor, &u, None).await.map(|_| ())
    })
    .await
}

#[derive(Deserialize)]
struct ProfileForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
}

async fn user_profile(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<ProfileForm>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "saved", |u| async move {
        ops::update_profile(&st, &actor, &u, &f.first_name, &f.last_name, &f.email)
            .await
            .map(|_| ())
    })
    .await
}

async fn user_disable(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "disabled", |u| async move {
        ops::set_disabled(&st, &actor, &u, true).await
    })
    .await
}

async fn user_enable(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "enabled", |u| async move {
        ops::set_disabled(&st, &actor, &u, false).await
    })
    .await
}

async fn user_admin(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "admin", |u| async move {
        ops::set_admin(&st, &actor, &u, true).await
    })
    .await
}

async fn user_unadmin(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "unadmin", |u| async move {
        ops::set_admin(&st, &actor, &u, false).await
    })
    .await
}

#[derive(Deserialize)]
struct SetPasswordForm {
    #[serde(default)]
    password: String,
}

async fn user_password(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<SetPasswordForm>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "password", |u| async move {
        ops::set_password(&st, &actor, &u, &f.password)
            .await
            .map(|_| ())
    })
    .await
}

async fn user_rotate(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(&id).ui(&chrome)?;
    let user = ops::user(&state, id).await.ui(&chrome)?;
    let secret = ops::rotate_secret(&state, &admin.actor(), &user)
        .await
        .ui(&chrome)?;
    Ok(render(&SecretPage {
        chrome,
        user: UserView::of(&user),
        secret,
    }))
}

#[derive(Deserialize)]
struct ExpiryForm {
    #[serde(default)]
    expires: String,
}

async fn user_expiry(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<ExpiryForm>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "expiry", |u| async move {
        let at = ops::check_expiry(&f.expires)?;
        ops::set_expiry(&st, &actor, &u, at).await
    })
    .await
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    title: String,
    message: String,
    action: String,
    cancel: String,
}

async fn user_delete_confirm(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(&id).ui(&chrome)?;
    let u = ops::user(&state, id).await.ui(&chrome)?;
    Ok(render(&ConfirmPage {
        chrome,
        title: format!("Delete {}?", u.username),
        message: "The account, its group memberships, docker logins and sessions are removed for good. The audit log keeps its name.".to_owned(),
        action: format!("/admin/users/{id}/delete"),
        cancel: format!("/admin/users/{id}"),
    }))
}

async fn user_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(&id).ui(&chrome)?;
    let u = ops::user(&state, id).await.ui(&chrome)?;
    ops::delete_user(&state, &admin.actor(), &u)
        .await
        .ui(&chrome)?;
    Ok(back("/admin/users", "deleted"))
}

// ---------------------------------------------------------------- groups

struct GroupLine {
    id: i64,
    name: String,
    members: usize,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    chrome: Chrome,
    groups: Vec<GroupLine>,
    error: FieldError,
    name: String,
}

async fn groups_render(
    state: &AppState,
    chrome: Chrome,
    error: FieldError,
    name: String,
    status: StatusCode,
) -> Result<Response, UiError> {
    let store = state.accounts.store();
    let groups = store
        .list_groups()
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    let memberships = store
        .list_memberships()
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    let groups = groups
        .into_iter()
        .map(|g| GroupLine {
            members: memberships.iter().filter(|(gn, _)| *gn == g.name).count(),
            id: g.id,
            name: g.name,
        })
        .collect();
    Ok(render_status(
        status,
        &GroupsPage {
            chrome,
            groups,
            error,
            name,
        },
    ))
}

async fn groups(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups").notice(&flash);
    groups_render(
        &state,
        chrome,
        FieldError::default(),
        String::new(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

async fn groups_create(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<NameForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    match ops::create_group(&state, &admin.actor(), f.name.trim())
        .await
        .map_err(AppError::from)
    {
        Ok(g) => Ok(back(&format!("/admin/groups/{}", g.id), "created")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let status = e.status();
            let mut fe = FieldError::from(&e);
            fe.field = "name".to_owned();
            groups_render(&state, chrome, fe, f.name, status).await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    chrome: Chrome,
    id: i64,
    name: String,
    members: Vec<UserView>,
    error: FieldError,
}

async fn group_render(
    state: &AppState,
    chrome: Chrome,
    id: i64,
    error: FieldError,
    status: StatusCode,
) -> Result<Response, UiError> {
    let store = state.accounts.store();
    let g = store
        .get_group(id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    let members = store
        .group_members(id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    Ok(render_status(
        status,
        &GroupPage {
            chrome,
            id,
            name: g.name,
            members: members.iter().map(UserView::of).collect(),
            error,
        },
    ))
}

async fn group_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups").notice(&flash);
    let id = parse_id(&id).ui(&chrome)?;
    group_render(&state, chrome, id, FieldError::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    username: String,
}

async fn group_add(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let g = state
        .accounts
        .store()
        .get_group(id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    match ops::add_member(&state, &admin.actor(), &g, &f.username)
        .await
        .map_err(AppError::from)
    {
        Ok(_) => Ok(back(&format!("/admin/groups/{id}"), "added")),
        Err(e @ AppError::Invalid { .. }) => {
            group_render(
                &state,
                chrome,
                id,
                FieldError::from(&e),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

async fn group_remove(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, uid)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let uid = parse_id(&uid).ui(&chrome)?;
    let g = state
        .accounts
        .store()
        .get_group(id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    let u = ops::user(&state, uid).await.ui(&chrome)?;
    ops::remove_member(&state, &admin.actor(), &g, &u)
        .await
        .ui(&chrome)?;
    Ok(back(&format!("/admin/groups/{id}"), "removed"))
}

async fn group_delete_confirm(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let g = state
        .accounts
        .store()
        .get_group(id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    Ok(render(&ConfirmPage {
        chrome,
        title: format!("Delete the group {}?", g.name),
        message: "Its members lose what rules for this group gave them. Rules naming the group stay until you remove them.".to_owned(),
        action: format!("/admin/groups/{id}/delete"),
        cancel: format!("/admin/groups/{id}"),
    }))
}

async fn group_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let g = state
        .accounts
        .store()
        .get_group(id)
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    ops::delete_group(&state, &admin.actor(), &g)
        .await
        .ui(&chrome)?;
    Ok(back("/admin/groups", "deleted"))
}

// ---------------------------------------------------------------- rules, explain

struct RuleRow {
    id: i64,
    subject: String,
    pattern: String,
    actions: String,
    created: String,
    created_by: String,
    broken: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    chrome: Chrome,
    rules: Vec<RuleRow>,
    error: FieldError,
    subject: String,
    pattern: String,
    actions: String,
}

#[derive(Deserialize, Default)]
struct RuleForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    actions: String,
}

async fn rules_render(
    state: &AppState,
    chrome: Chrome,
    error: FieldError,
    form: RuleForm,
    status: StatusCode,
) -> Result<Response, UiError> {
    let rules = state
        .accounts
        .store()
        .list_acl_rules()
        .await
        .map_err(AppError::from)
        .ui(&chrome)?;
    let snap = state.accounts.snapshot();
    let rules = rules
        .into_iter()
        .map(|r| RuleRow {
            broken: snap
                .broken_rules
                .iter()
                .find(|(id, _)| *id == r.id)
                .map(|(_, why)| why.clone())
                .unwrap_or_default(),
            id: r.id,
            subject: r.subject,
            pattern: r.pattern,
            actions: r.actions,
            created: date(r.created_at),
            created_by: r.created_by.unwrap_or_default(),
        })
        .collect();
    Ok(render_status(
        status,
        &RulesPage {
            chrome,
            rules,
            error,
            subject: form.subject,
            pattern: form.pattern,
            actions: form.actions,
        },
    ))
}

async fn rules(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "rules").notice(&flash);
    rules_render(
        &state,
        chrome,
        FieldError::default(),
        RuleForm {
            actions: "pull".to_owned(),
            ..RuleForm::default()
        },
        StatusCode::OK,
    )
    .await
}

async fn rules_add(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<RuleForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "rules");
    match ops::add_rule(&state, &admin.actor(), &f.subject, &f.pattern, &f.actions)
        .await
        .map_err(AppError::from)
    {
        Ok(_) => Ok(back("/admin/rules", "added")),
        Err(e @ AppError::Invalid { .. }) => {
            rules_render(
                &state,
                chrome,
                FieldError::from(&e),
                f,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

async fn rules_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "rules");
    let id = parse_id(&id).ui(&chrome)?;
    ops::delete_rule(&state, &admin.actor(), id)
        .await
        .ui(&chrome)?;
    Ok(back("/admin/rules", "removed"))
}

#[derive(Deserialize, Default)]
struct ExplainQuery {
    user: Option<String>,
    scope: Option<String>,
}

#[derive(Template)]
#[template(path = "explain.html")]
struct ExplainPage {
    chrome: Chrome,
    user: String,
    scope: String,
    result: Option<ops::Explained>,
    error: FieldError,
}

async fn explain(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<ExplainQuery>,
) -> Response {
    let chrome = Chrome::of(&admin.0, "explain");
    let user = q.user.unwrap_or_default();
    let scope = q.scope.unwrap_or_default();
    let (result, error, status) = if scope.is_empty() && user.is_empty() {
        (None, FieldError::default(), StatusCode::OK)
    } else {
        match ops::explain(&state, &user, &scope).map_err(AppError::from) {
            Ok(r) => (Some(r), FieldError::default(), StatusCode::OK),
            Err(e) => (None, FieldError::from(&e), e.status()),
        }
    };
    render_status(
        status,
        &ExplainPage {
            chrome,
            user,
            scope,
            result,
            error,
        },
    )
}

// ---------------------------------------------------------------- audit

struct AuditLine {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    remote: String,
    /// How many times it happened within its minute (repeated failures are counted).
    count: i64,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    actor: String,
    action: String,
    events: Vec<AuditLine>,
    older: String,
}

#[derive(Deserialize, Default)]
struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    before_id: Option<String>,
}

const AUDIT_PAGE: u32 = 50;

async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AuditParams>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "audit");
    let before = match q.before_id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| AppError::invalid("before_id", "must be a number"))
                .ui(&chrome)?,
        ),
        None => None,
    };
    let events = ops::audit_page(
        &state,
        q.actor.as_deref(),
        q.action.as_deref(),
        before,
        AUDIT_PAGE,
    )
    .await
    .ui(&chrome)?;
    let actor = q.actor.unwrap_or_default();
    let action = q.action.unwrap_or_default();
    let older = match events.last() {
        Some(last) if events.len() == AUDIT_PAGE as usize => {
            let mut pairs = vec![("before_id", last.id.to_string())];
            if !actor.is_empty() {
                pairs.push(("actor", actor.clone()));
            }
            if !action.is_empty() {
                pairs.push(("action", action.clone()));
            }
            format!(
                "/admin/audit?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
        _ => String::new(),
    };
    let events = events
        .into_iter()
        .map(|e| AuditLine {
            id: e.id,
            at: datetime(e.at),
            actor: e.actor.unwrap_or_default(),
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            remote: e.remote_addr.unwrap_or_default(),
            count: e.count,
        })
        .collect();
    Ok(render(&AuditPage {
        chrome,
        actor,
        action,
        events,
        older,
    }))
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
